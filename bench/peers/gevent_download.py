"""gevent peer for bench/download.sh: downloads every URL of a list with urllib.request under
gevent (monkey.patch_all()), at most POOL (default 50) at once in a gevent.pool.Pool, each into
DIR/NAME (NAME: the last segment of the URL path).

    python3 gevent_download.py [-j POOL] -i LIST -d DIR

LIST holds one URL per line (blank lines and lines starting with # are skipped; anything after
the URL on a line is ignored). The body is copied in 1 MiB reads (readinto into one buffer per
download, no per-chunk allocation). urllib.request sends "Connection: close": one TCP
connection per URL, as an urllib user gets.

Exits 0 when every URL was downloaded with the length the server announced, 1 otherwise (each
failure is printed to stderr), 2 on a usage error.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402  (after patch_all, as gevent asks)
import os  # noqa: E402
import sys  # noqa: E402
import urllib.parse  # noqa: E402
import urllib.request  # noqa: E402

import gevent.pool  # noqa: E402

CHUNK = 1 << 20


def fetch(url, directory):
    name = os.path.basename(urllib.parse.unquote(urllib.parse.urlsplit(url).path)) or "index.html"
    path = os.path.join(directory, name)
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    got = 0
    with urllib.request.urlopen(url, timeout=60) as resp, open(path, "wb") as out:
        want = resp.headers.get("Content-Length")
        while True:
            n = resp.readinto(buf)
            if not n:
                break
            out.write(view[:n])
            got += n
    if want is not None and got != int(want):
        raise IOError(f"truncated: {got} of {want} bytes")
    return got


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-j", "--jobs", type=int, default=50)
    parser.add_argument("-i", "--input-file", required=True)
    parser.add_argument("-d", "--dir", default=".")
    args = parser.parse_args()
    urls = []
    with open(args.input_file, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                urls.append(line.split()[0])
    os.makedirs(args.dir, exist_ok=True)

    failures = []

    def job(url):
        try:
            fetch(url, args.dir)
        except Exception as e:  # noqa: BLE001 (every failure is reported, none stops the rest)
            failures.append((url, e))

    pool = gevent.pool.Pool(args.jobs)
    for url in urls:
        pool.spawn(job, url)
    pool.join()
    for url, e in failures:
        print(f"gevent_download: {url}: {e}", file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
