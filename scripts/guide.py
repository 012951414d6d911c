#!/usr/bin/env python3
"""Keeps the code in the docs identical to the programs in examples/, which the tests run.

Every fenced code block in a checked page must come straight after a marker naming its source:

    <!-- example: examples/spawn_join.cpp -->          the whole file
    <!-- example: examples/echo.cpp#server -->         the lines between "// [server]" lines
    <!-- output: examples/expected/spawn_join.txt -->  what the program prints (the tests compare)

`guide.py check PAGE...` fails on a block without a marker, a block that differs from its
source, or an example that no test runs (one with neither examples/expected/NAME.txt nor a
run_example("NAME") or start_example_server("NAME") in tests/examples/run_test.cpp; a script must be run by
tests/examples/tests.cmake).
`guide.py sync PAGE...` rewrites the blocks from their sources.
`--only LANG[,LANG]` limits the pages after it to blocks fenced as LANG (the README's shell commands
are not programs).
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
MARKER = re.compile(r"^<!-- (example|output): (\S+?)(?:#([\w-]+))? -->\s*$")
FENCE = re.compile(r"^(```+)([\w+-]*)\s*$")
REGION = re.compile(r"^\s*(?://|#) \[([\w-]+)\]\s*$")


def region(text, tag, where):
    """The lines between the two "// [tag]" lines (markers themselves dropped)."""
    lines = text.splitlines(keepends=True)
    marks = [i for i, line in enumerate(lines) if (m := REGION.match(line)) and m.group(1) == tag]
    if len(marks) != 2:
        raise ValueError(f"{where}: expected two '// [{tag}]' lines, found {len(marks)}")
    return "".join(lines[marks[0] + 1 : marks[1]])


def without_region_marks(text):
    return "".join(line for line in text.splitlines(keepends=True) if not REGION.match(line))


def source_text(kind, path, tag, where):
    file = ROOT / path
    if not file.is_file():
        raise ValueError(f"{where}: {path} does not exist")
    text = file.read_text()
    if tag:
        return region(text, tag, where)
    return without_region_marks(text) if kind == "example" else text


def run_by_tests(path):
    """An example counts only if a test runs it: a golden output or a run_example() call."""
    p = pathlib.PurePosixPath(path)
    if p.parent.as_posix() != "examples":
        return True  # outputs and non-example sources need no runner
    name = p.stem
    if p.suffix != ".cpp":  # a script: tests/examples/tests.cmake must run it
        return p.name in (ROOT / "tests" / "examples" / "tests.cmake").read_text()
    if (ROOT / "examples" / "expected" / f"{name}.txt").is_file():
        return True
    runner = (ROOT / "tests" / "examples" / "run_test.cpp").read_text()
    return re.search(r'(run_example|start_example_server)\("' + re.escape(name) + r'[ "]', runner) is not None


def blocks(lines):
    """Yields (marker match or None, open line index, close line index, language)."""
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        j = i + 1
        while j < len(lines) and lines[j].rstrip() != fence.group(1):
            j += 1
        k = i - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        marker = MARKER.match(lines[k]) if k >= 0 and k == i - 1 else None
        yield marker, i, j, fence.group(2)
        i = j + 1


def process(page, write, only=None):
    errors = []
    lines = page.read_text().splitlines(keepends=True)
    out = []
    pos = 0
    for marker, start, end, lang in blocks(lines):
        if only and lang not in only.split(","):
            continue
        where = f"{page.relative_to(ROOT)}:{start + 1}"
        out.extend(lines[pos : start + 1])
        body = "".join(lines[start + 1 : end])
        pos = end
        if end >= len(lines):
            errors.append(f"{where}: code block is never closed")
            out.extend(lines[start + 1 : end])
            continue
        if marker is None:
            errors.append(f"{where}: code block without an <!-- example: ... --> marker")
            out.append(body)
            continue
        kind, path, tag = marker.groups()
        try:
            want = source_text(kind, path, tag, where)
        except ValueError as e:
            errors.append(str(e))
            out.append(body)
            continue
        if kind == "example" and not run_by_tests(path):
            errors.append(f"{where}: no test runs {path} (add examples/expected/"
                          f"{pathlib.PurePosixPath(path).stem}.txt or a run_example test)")
        if not want.endswith("\n"):
            want += "\n"
        if body != want:
            if write:
                body = want
            else:
                errors.append(f"{where}: block differs from {path}{'#' + tag if tag else ''}"
                              " (run scripts/guide.py sync)")
        out.append(body)
    out.extend(lines[pos:])
    if write:
        page.write_text("".join(out))
    return errors


def main(argv):
    if len(argv) < 3 or argv[1] not in ("check", "sync"):
        print(__doc__, file=sys.stderr)
        return 2
    only = None
    pages = []
    args = iter(argv[2:])
    for arg in args:
        if arg == "--only":
            only = next(args, None)
        else:
            pages.append((arg, only))
    errors = []
    for name, lang in pages:
        errors += process((ROOT / name).resolve(), argv[1] == "sync", lang)
    for e in errors:
        print(e, file=sys.stderr)
    if argv[1] == "check" and not errors:
        print(f"{len(pages)} page(s): every checked code block matches its source")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
