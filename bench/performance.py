#!/usr/bin/env python3
"""Writes docs/performance.md (and PNG charts) from the outputs of one `make compare` run.

    bench/performance.py [--build BUILD_DIR] [--out-dir DIR] [--tie FRACTION] [--no-charts]

BUILD_DIR (default build-release) is where bench/run.sh left its outputs:
  bench-out/          runtime micro-benchmarks (gev_micro/gev_monkey/gev_memory JSON and text,
                      gevent.N.txt, go.N.txt, info.txt, gev_memory_1m.txt), read with report.py
  echo-out/           TCP echo (bench/echo.sh): NAME.PATTERN.CONNS.txt
  http-out/           HTTP plaintext (bench/http.sh): NAME.LOAD.CONNS.txt, NAME.idle.txt, *.wrk
  download-out/       downloads (bench/download.sh): WORKLOAD.TOOL.N.txt
  bench-download.md   the download tables (workload titles, commands, versions)
  compare-out/        written by bench/compare.sh: env.txt (versions, settings) and
                      run.N/{echo,http}-out, the repeated network runs (their medians are taken
                      together with echo-out/ and http-out/; a repeat older than the main
                      output directory is stale and ignored)
Whatever is missing becomes "n/a" (or "not measured"); nothing here fails on a partial run.

It writes DIR/performance.md (default DIR: docs/ of the repository) and DIR/performance/*.png
(gnuplot bar charts; left out, saying so, when gnuplot is not installed). Standard library only.
"""
import argparse
import datetime
import glob
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
try:
    import report as runtime_report  # bench/report.py: the runtime rows and their raw readers
except Exception as e:  # noqa: BLE001 - a broken report.py must not take the rest down
    runtime_report = None
    RUNTIME_IMPORT_ERROR = str(e)
else:
    RUNTIME_IMPORT_ERROR = ""

TIE = 0.03  # |ratio - 1| below this: level (within noise), not ahead

# ---- small helpers ---------------------------------------------------------------------------------


def read_kv(path):
    """`key value...` lines -> {key: float or str} (the first value only)."""
    out = {}
    try:
        with open(path, errors="replace") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2:
                    try:
                        out[parts[0]] = float(parts[1])
                    except ValueError:
                        out[parts[0]] = " ".join(parts[1:])
    except OSError:
        pass
    return out


def read_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def median(values):
    values = [v for v in values if isinstance(v, (int, float))]
    return statistics.median(values) if values else None


def mtime_utc(path):
    try:
        t = os.path.getmtime(path)
    except OSError:
        return None
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def group(n):
    return f"{n:,.0f}"


def fmt_num(value, unit=""):
    if value is None:
        return "n/a"
    if value >= 1000:
        text = f"{value:,.0f}"
    elif value >= 100:
        text = f"{value:.0f}"
    elif value >= 10:
        text = f"{value:.1f}"
    elif value >= 0.1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.4f}"
    return f"{text} {unit}".strip()


def fmt_s(value):
    return "n/a" if value is None else f"{value:.3f} s"


def fmt_us(us):
    if us is None:
        return "n/a"
    return f"{us:,.0f} us" if us < 10000 else f"{us / 1000:.1f} ms"


def rel(path):
    try:
        r = os.path.relpath(path, REPO)
    except ValueError:
        return path
    return path if r.startswith("..") else r


def md_cell(text):
    return str(text).replace("|", "\\|")


def md_table(header, rows):
    out = ["| " + " | ".join(md_cell(h) for h in header) + " |",
           "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        out.append("| " + " | ".join(md_cell(c) for c in r) + " |")
    return out


# ---- comparisons -----------------------------------------------------------------------------------

WORDS = {"time": ("faster", "slower"), "rate": ("faster", "slower"),
         "memory": ("smaller", "larger")}


def advantage(gev, peer, kind):
    """> 1: gev is better by that factor; None when either is missing."""
    if gev is None or peer is None or gev <= 0 or peer <= 0:
        return None
    return gev / peer if kind == "rate" else peer / gev


def ratio_text(adv, kind):
    if adv is None:
        return "n/a"
    good, bad = WORDS[kind]
    r, word = (adv, good) if adv >= 1 else (1 / adv, bad)
    return (f"{r:.2f}x {word}" if r < 10 else f"{r:.0f}x {word}")


def verdict(gev, peers, kind, tie):
    """peers: [(name, value)] -> (verdict text, state, [(name, adv)] not ahead).

    state: "ahead", "behind", "level", "n/a". A peer without a figure is named, never counted as
    beaten."""
    if gev is None:
        return "n/a (gev not measured)", "n/a", []
    measured = [(n, advantage(gev, v, kind)) for n, v in peers]
    have = [(n, a) for n, a in measured if a is not None]
    missing = [n for n, a in measured if a is None]
    if not have:
        return "n/a (no peer measured)", "n/a", []
    behind = [(n, a) for n, a in have if a < 1 - tie]
    level = [(n, a) for n, a in have if 1 - tie <= a <= 1 + tie]
    parts = []
    if behind:
        parts.append("BEHIND: " + "; ".join(f"{ratio_text(a, kind)} than {n}" for n, a in behind))
    if level:
        parts.append(("NOT AHEAD: " if not behind else "") + "level with " + "; ".join(
            f"{n} ({ratio_text(a, kind)}, within {tie * 100:.0f}%)" for n, a in level))
    if not parts:
        parts.append("ahead")
    if missing:
        parts.append("(" + ", ".join(missing) + " n/a)")
    state = "behind" if behind else ("level" if level else "ahead")
    return " ".join(parts), state, behind + level


class Report:
    def __init__(self, tie):
        self.tie = tie
        self.not_ahead = []    # (area, text)
        self.secondary = []    # (area, text)
        self.targets = []      # (area, text)
        self.unmeasured = []   # (area, text)
        self.charts = []       # (area, file, alt)
        self.compared = 0      # rows where gev met at least one measured peer

    def judge(self, area, label, gev, gev_text, peers, kind, unit_fmt, who="gev"):
        """Verdict for one row; records it in the summary when gev is not ahead."""
        text, state, worse = verdict(gev, peers, kind, self.tie)
        if state != "n/a":
            self.compared += 1
        if state in ("behind", "level"):
            vals = dict(peers)
            detail = "; ".join(f"{n} {unit_fmt(vals[n])} ({ratio_text(a, kind)})" for n, a in worse)
            what = "behind" if state == "behind" else "only level with"
            self.not_ahead.append((area, f"**{label}**: {who} {gev_text} is {what} {detail}"))
        return text

    def judge_secondary(self, area, label, gev, peers, kind, unit_fmt, what, who="gev"):
        """Secondary measure (p99, CPU, RSS): listed when a peer is better beyond the tie band."""
        if gev is None:
            return
        worse = []
        for n, v in peers:
            a = advantage(gev, v, kind)
            if a is not None and a < 1 - self.tie:
                worse.append(f"{n} {unit_fmt(v)} ({ratio_text(a, kind)})")
        if worse:
            self.secondary.append(
                (area, f"**{label}**, {what}: {who} {unit_fmt(gev)}; better: " + "; ".join(worse)))


# ---- inputs ----------------------------------------------------------------------------------------


class Inputs:
    def __init__(self, build):
        self.build = build
        self.bench_out = os.path.join(build, "bench-out")
        self.info = self._info()
        self.env = read_kv_colon(os.path.join(build, "compare-out", "env.txt"))
        self.echo_dirs = self._dirs("echo-out")
        self.http_dirs = self._dirs("http-out")
        self.download_out = os.path.join(build, "download-out")
        self.download_md = read_text(os.path.join(build, "bench-download.md"))

    def _info(self):
        info = {}
        for line in read_text(os.path.join(self.bench_out, "info.txt")).splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                info[k.strip()] = v.strip()
        return info

    def _dirs(self, name):
        """The main output directory plus compare.sh's repeats that are not older than it."""
        main = os.path.join(self.build, name)
        dirs = [main] if os.path.isdir(main) else []
        t0 = os.path.getmtime(main) if dirs else 0
        extra = glob.glob(os.path.join(self.build, "compare-out", "run.*", name))
        extra.sort(key=lambda p: int(re.sub(r"\D", "", os.path.basename(os.path.dirname(p))) or 0))
        for d in extra:
            if os.path.isdir(d) and os.path.getmtime(d) >= t0:
                dirs.append(d)
        return dirs


def read_kv_colon(path):
    out = {}
    for line in read_text(path).splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def multi(dirs, filename, key):
    """The values of KEY in FILENAME over the run directories (missing runs left out)."""
    vals = []
    for d in dirs:
        v = read_kv(os.path.join(d, filename)).get(key)
        if isinstance(v, float):
            vals.append(v)
    return vals


# ---- gnuplot ---------------------------------------------------------------------------------------


class Charts:
    COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]

    def __init__(self, out_dir, enabled):
        self.out_dir = os.path.join(out_dir, "performance")
        self.gnuplot = shutil.which("gnuplot") if enabled else None
        self.terminal = None
        self.problem = "" if enabled else "charts disabled (--no-charts)"
        if enabled and not self.gnuplot:
            self.problem = "gnuplot is not installed (apt-get install gnuplot-nox): no charts"
        if self.gnuplot:
            for term in ("pngcairo size 960,520 font 'DejaVu Sans,10'",
                         "png size 960,520"):
                r = subprocess.run([self.gnuplot, "-e", f"set terminal {term}"],
                                   capture_output=True, text=True)
                if r.returncode == 0 and not r.stderr.strip():
                    self.terminal = term
                    break
            if not self.terminal:
                self.problem = "gnuplot has neither the pngcairo nor the png terminal: no charts"
                self.gnuplot = None

    def bar(self, name, title, ylabel, categories, series, rows, log=None, ref_line=None):
        """Clustered bars: rows[i][j] = value of series j in category i (None = missing).
        Returns the PNG's file name, or None."""
        if not self.gnuplot:
            return None
        vals = [v for r in rows for v in r if v is not None and v > 0]
        if not vals:
            return None
        if log is None:
            log = max(vals) / min(vals) > 20
        os.makedirs(self.out_dir, exist_ok=True)
        png = os.path.join(self.out_dir, f"{name}.png")
        with tempfile.TemporaryDirectory(prefix="gev-perf-") as tmp:
            dat = os.path.join(tmp, "data.dat")
            with open(dat, "w") as f:
                for cat, r in zip(categories, rows):
                    cells = ["?" if v is None or v <= 0 else repr(float(v)) for v in r]
                    f.write('"%s" %s\n' % (cat.replace('"', "'"), " ".join(cells)))
            plots = []
            for j, s in enumerate(series):
                color = self.COLORS[j % len(self.COLORS)]
                src = f"'{dat}'" if j == 0 else "''"
                xtic = ":xtic(1)" if j == 0 else ""
                plots.append(f"{src} using {j + 2}{xtic} title '{s}' lc rgb '{color}'")
            lo = min(vals)
            script = [
                f"set terminal {self.terminal}",
                f"set output '{png}'",
                f"set title '{title}'",
                f"set ylabel '{ylabel}'",
                "set datafile missing '?'",
                "set style data histograms",
                "set style histogram clustered gap 1",
                "set style fill solid 0.85 border -1",
                "set boxwidth 0.9",
                "set key top right outside",
                "set grid ytics",
            ]
            if len(categories) > 4:
                script += ["set xtics nomirror rotate by 25 right scale 0", "set bmargin 8"]
            else:
                script += ["set xtics nomirror scale 0"]
            if max(vals) >= 10000:
                script.append("set format y '%.0s%c'")  # 100k, 1M
            if log:
                script += ["set logscale y", f"set yrange [{lo / 3:g}:{max(vals) * 3:g}]"]
            else:
                script += [f"set yrange [0:{max(vals) * 1.15:g}]"]
            if ref_line is not None:
                script.append(f"set arrow from graph 0, first {ref_line} to graph 1, first "
                              f"{ref_line} nohead dt 2 lc rgb '#444444'")
            script.append("plot " + ", ".join(plots))
            gp = os.path.join(tmp, "chart.gp")
            with open(gp, "w") as f:
                f.write("\n".join(script) + "\n")
            r = subprocess.run([self.gnuplot, gp], capture_output=True, text=True)
            if r.returncode != 0 or not os.path.exists(png):
                self.problem = f"gnuplot failed on {name}: {r.stderr.strip()[:300]}"
                return None
        return f"{name}.png"


# ---- the areas -------------------------------------------------------------------------------------

RUNTIME_SKIP = {"rss_per_parked_kib"}  # reported under memory
SHORT = {"yield_ns": "yield", "spawn_join_ns": "spawn + join", "sleep_100k_s": "100k sleeps",
         "wake_100k_ns_per_waiter": "Event wakes 100k", "queue_pingpong_ns": "Queue ping-pong",
         "pool_100k_s": "Pool 100k tasks", "timeout_arm_cancel_ns": "Timeout arm+cancel",
         "spawn_park_100k_s": "spawn+park 100k", "kill_unwind_100k_s": "kill+unwind 100k",
         "socket_pingpong_ns": "socket ping-pong", "raw_switch_ns": "raw switch"}
GEV_ONLY = {"net_socket_pingpong_ns", "hook_overhead_ns"}


def runtime_area(inp, rep, charts, md):
    md += ["", "## Runtime micro-benchmarks", ""]
    if runtime_report is None:
        md.append(f"Not available: bench/report.py could not be loaded ({RUNTIME_IMPORT_ERROR}).")
        rep.unmeasured.append(("runtime", "bench/report.py could not be loaded"))
        return None
    runs = runtime_report.collect(inp.bench_out)
    med = {p: {k: median(v) for k, v in runs[p].items()} for p in runtime_report.PEERS}
    counts = {p: sorted({len(v) for v in runs[p].values()}) for p in runtime_report.PEERS}
    if not any(runs[p] for p in runtime_report.PEERS):
        md.append(f"Not measured: no outputs in `{rel(inp.bench_out)}/`.")
        rep.unmeasured.append(("runtime", "no runtime outputs"))
        return None
    for p, name in (("gevent", "gevent"), ("go", "Go")):
        if not runs[p]:
            rep.unmeasured.append(("runtime", f"{name} peer not measured: its column is n/a"))
    header = ["measure", "gev", "gevent", "Go", "gev vs gevent", "gev vs Go", "verdict",
              "target (DESIGN.md)"]
    rows, chart_cats, chart_rows = [], [], []
    for key, measure, unit, kind, target, limit, _note in runtime_report.ROWS:
        if key in RUNTIME_SKIP:
            continue
        g, ge, go = med["gev"].get(key), med["gevent"].get(key), med["go"].get(key)
        if key == "raw_switch_ns":
            go = None
        uf = (lambda v, u=unit: runtime_report.fmt(v, u))
        if key in GEV_ONLY:
            vtext = "gev only (no peer equivalent)"
        else:
            peers = [("gevent", ge)] + ([] if key == "raw_switch_ns" else [("Go", go)])
            vtext = rep.judge("runtime", measure, g, uf(g), peers, kind, uf)
        tgt = target
        if limit is not None:
            met = "n/a" if g is None else ("met" if g <= limit else "MISSED")
            tgt = f"{target}: {met}"
            if met == "MISSED":
                rep.targets.append(("runtime", f"**{measure}**: gev {uf(g)}, target {target}"))
        elif key == "queue_pingpong_ns" and g is not None and go is not None:
            met = "met" if g < go else "MISSED"
            tgt = f"{target}: {met}"
            if met == "MISSED":
                rep.targets.append(("runtime", f"**{measure}**: gev {uf(g)}, Go {uf(go)}"))
        rows.append([measure, uf(g), uf(ge), uf(go), ratio_text(advantage(g, ge, kind), kind),
                     ratio_text(advantage(g, go, kind), kind), vtext, tgt])
        if g and key not in GEV_ONLY:
            chart_cats.append(SHORT.get(key, re.sub(r",.*", "", measure)[:30]))
            chart_rows.append([1.0, (ge / g) if ge else None, (go / g) if go else None])
    md += [f"Lower is better everywhere. Each figure is the median of "
           f"{runs_text(counts)} (bench/run.sh interleaves gev, gevent and Go in every round).", ""]
    md += md_table(header, rows)
    png = charts.bar("runtime", "Runtime: time relative to gev (gev = 1; above 1 = gev faster)",
                     "peer time / gev time (log)", chart_cats, ["gev", "gevent", "Go"], chart_rows,
                     log=True, ref_line=1)
    embed(md, rep, "runtime", png, "Runtime micro-benchmarks, time relative to gev")
    md += ["", "What each row measures:", ""]
    md += [f"- **{m}**: {note}." for k, m, _u, _kd, _t, _l, note in runtime_report.ROWS
           if k not in RUNTIME_SKIP]
    pin = inp.info.get("pinning", "taskset -c 0; runs per figure: 3 (median)")
    taskset = pin.split(";")[0].strip()
    taskset = "" if taskset in ("none", "") else taskset + " "
    b = rel(inp.build)
    md += ["", "Commands (each round, in this order; `make compare` runs `bench/run.sh "
           f"{b}`):", "", "```",
           f"{taskset}{b}/bench/gev_micro --benchmark_format=json",
           f"{taskset}{b}/bench/gev_monkey_micro --benchmark_format=json",
           f"{taskset}{b}/bench/gev_memory 100000",
           f"{taskset}/usr/bin/python3 bench/peers/gevent_bench.py",
           f"GOMAXPROCS=1 {taskset}{b}/go_bench      # built from bench/peers/go_bench",
           "```", "", f"Pinning: {pin}. Raw outputs: `{b}/bench-out/`; measured "
           f"{inp.info.get('date', mtime_utc(inp.bench_out) or 'n/a')}."]
    return med


def runs_text(counts):
    names = {"gev": "gev", "gevent": "gevent", "go": "Go"}
    parts = []
    for p, c in counts.items():
        if c:
            n = f"{c[0]}" if len(c) == 1 else f"{c[0]}-{c[-1]}"
            parts.append(f"{names.get(p, p)} {n}")
    return "runs: " + ", ".join(parts) if parts else "no runs"


def embed(md, rep, area, png, alt):
    if png:
        md += ["", f"![{alt}](performance/{png})"]
        rep.charts.append((area, png, alt))


# ---- memory ----


def memory_area(inp, rep, charts, md, runtime_med):
    md += ["", "## Memory: parked greenlets and idle keep-alive connections", ""]
    md.append("Lower is better.")
    header = ["measure", "gev", "gevent", "Go", "nginx", "gev vs gevent", "gev vs Go",
              "gev vs nginx", "verdict", "target"]
    rows = []
    kib = (lambda v: fmt_num(v, "KiB"))
    # RSS per parked greenlet (100k), from the runtime run.
    g = ge = go = None
    if runtime_med:
        g = runtime_med["gev"].get("rss_per_parked_kib")
        ge = runtime_med["gevent"].get("rss_per_parked_kib")
        go = runtime_med["go"].get("rss_per_parked_kib")
    label = "RSS per parked greenlet (100k parked)"
    vt = rep.judge("memory", label, g, kib(g), [("gevent", ge), ("Go", go)], "memory", kib)
    tgt = "<= 8 KiB: " + ("n/a" if g is None else ("met" if g <= 8 else "MISSED"))
    if g is not None and g > 8:
        rep.targets.append(("memory", f"**{label}**: gev {kib(g)}, target <= 8 KiB"))
    rows.append([label, kib(g), kib(ge), kib(go), "n/a",
                 ratio_text(advantage(g, ge, "memory"), "memory"),
                 ratio_text(advantage(g, go, "memory"), "memory"), "n/a", vt, tgt])
    # 1M parked, once each: gev, and the same million for gevent and Go.
    one = {name: read_kv(os.path.join(inp.bench_out, f"{name}_memory_1m.txt"))
           for name in ("gev", "gevent", "go")}

    def one_m(kv):
        """(KiB per parked or None, table cell) for one program's 1M run."""
        if not kv:
            return None, "not measured"
        if kv.get("result") == "ok" and isinstance(kv.get("rss_per_parked_kib"), float):
            cell = f"{kv['rss_per_parked_kib']:.2f} KiB each"
            if isinstance(kv.get("rss_peak_kib"), float):
                cell += f", peak {kv['rss_peak_kib'] / 1048576:.1f} GiB"
            return kv["rss_per_parked_kib"], cell
        code = kv.get("exit_code")
        return None, "FAILED" + (f" (exit {code:g})" if isinstance(code, float) else "")

    (g1, cell), (ge1, ge_cell), (go1, go_cell) = (one_m(one[n]) for n in ("gev", "gevent", "go"))
    label = "RSS per parked greenlet (1M parked, 1 run)"
    if not one["gev"]:
        tgt = "1M parked fits: n/a"
        rep.unmeasured.append(("memory", "1M parked greenlets: not in this run "
                               "(bench-out/gev_memory_1m.txt missing; GEV_BENCH_1M=0?)"))
    elif g1 is not None:
        tgt = "1M parked fits: met; <= 8 KiB: " + ("met" if g1 <= 8 else "MISSED")
    else:
        tgt = "1M parked fits: MISSED"
        rep.targets.append(("memory", f"**1M parked greenlets**: {cell}"))
    vt = rep.judge("memory", label, g1, cell, [("gevent", ge1), ("Go", go1)], "memory", kib)
    rows.append([label, cell, ge_cell, go_cell, "n/a",
                 ratio_text(advantage(g1, ge1, "memory"), "memory"),
                 ratio_text(advantage(g1, go1, "memory"), "memory"), "n/a", vt, tgt])
    # Idle keep-alive connections.
    per, conns, nruns = {}, {}, {}
    for name in ("gev", "nginx", "go", "gevent"):
        vals = multi(inp.http_dirs, f"{name}.idle.txt", "rss_per_conn_bytes")
        per[name] = median(vals) / 1024 if vals else None
        c = multi(inp.http_dirs, f"{name}.idle.txt", "conns")
        conns[name] = int(min(c)) if c else None
        nruns[name] = len(vals)
    n_conns = max([c for c in conns.values() if c] or [0])
    label = f"RSS per idle keep-alive HTTP connection ({group(n_conns) if n_conns else '?'} conns)"
    g = per["gev"]
    peers = [("gevent", per["gevent"]), ("Go", per["go"]), ("nginx", per["nginx"])]
    if not any(nruns.values()):
        rep.unmeasured.append(("memory", "idle keep-alive connections: not measured "
                               "(no http-out/*.idle.txt)"))
    vt = rep.judge("memory", label, g, kib(g), peers, "memory", kib)
    tgt = "<= 16 KiB: " + ("n/a" if g is None else ("met" if g <= 16 else "MISSED"))
    if g is not None and g > 16:
        rep.targets.append(("memory", f"**{label}**: gev {kib(g)}, target <= 16 KiB"))
    short = [c for n, c in conns.items() if c is not None and n_conns and c < n_conns]
    if short:
        vt += " (some server held fewer connections: see http-out/*.idle.log)"
    rows.append([label, kib(g), kib(per["gevent"]), kib(per["go"]), kib(per["nginx"]),
                 ratio_text(advantage(g, per["gevent"], "memory"), "memory"),
                 ratio_text(advantage(g, per["go"], "memory"), "memory"),
                 ratio_text(advantage(g, per["nginx"], "memory"), "memory"), vt, tgt])
    md.append("")
    md += md_table(header, rows)
    chart_rows = [[runtime_med["gev"].get("rss_per_parked_kib") if runtime_med else None,
                   runtime_med["gevent"].get("rss_per_parked_kib") if runtime_med else None,
                   runtime_med["go"].get("rss_per_parked_kib") if runtime_med else None, None],
                  [per["gev"], per["gevent"], per["go"], per["nginx"]]]
    png = charts.bar("memory", "Memory: KiB per parked greenlet / per idle keep-alive connection",
                     "KiB (lower is better)", ["per parked greenlet (100k)",
                                               "per idle keep-alive connection"],
                     ["gev", "gevent", "Go", "nginx"], chart_rows)
    embed(md, rep, "memory", png, "Memory per parked greenlet and per idle connection")
    b = rel(inp.build)
    runs_idle = ", ".join(f"{n} {nruns[n]}" for n in nruns if nruns[n]) or "none"
    md += ["", "- **RSS per parked greenlet**: VmRSS growth / 100k after every greenlet ran and "
           "parked in a 24 h sleep (gevent: gevent.sleep; Go: a 24 h timer in a select); page "
           "tables not included. Median of the runtime rounds (see above).",
           "- **1M parked greenlets**: `gev_memory 1000000`, `gevent_bench.py --parked 1000000` "
           "and `go_bench -parked 1000000`, each run once by bench/run.sh (GEV_BENCH_1M=1, needs "
           "~9 GiB each, one after the other): park, read VmRSS, kill or release all (gev also "
           "checks that every one unwound).",
           "- **idle keep-alive**: bench/peers/idle_conns.py opens the connections to a fresh "
           "server (one worker, pinned like the HTTP runs), sends one request on each, keeps them "
           "open and reads the server's VmRSS before and after (nginx: master + worker). "
           f"Median of the runs (runs: {runs_idle}).",
           "", "```",
           f"taskset -c 0 {b}/bench/gev_memory 100000          # and 1000000, once",
           "taskset -c 0 /usr/bin/python3 bench/peers/gevent_bench.py --parked 1000000",
           f"GOMAXPROCS=1 taskset -c 0 {b}/go_bench -parked 1000000",
           f"python3 bench/peers/idle_conns.py PORT {n_conns or 10000} SERVER_PIDS"
           "   # against each HTTP server below",
           "```"]


# ---- TCP echo ----

ECHO_PATTERNS = [("pingpong", 64, 1000), ("stream", 512, 1000), ("pingpong", 64, 4),
                 ("pingpong", 64, 1)]
ECHO_SERVERS = [("gev", "gev"), ("gev-batch", "gev batching"), ("go", "Go"), ("gevent", "gevent")]


def echo_area(inp, rep, charts, md):
    md += ["", "## TCP echo", ""]
    if not inp.echo_dirs:
        md.append(f"Not measured: no `{rel(inp.build)}/echo-out/` (GEV_BENCH_ECHO=0, or Go "
                  "missing: the load generator is Go).")
        rep.unmeasured.append(("TCP echo", "not measured"))
        return
    md.append("Messages echoed per second, higher is better (p99 round trip in brackets, lower "
              "is better). `gev batching`: the same gev server with GEV_IO_BATCH_US=50.")
    header = ["pattern", "gev", "gev batching", "Go", "gevent", "gev vs Go", "gev vs gevent",
              "verdict (gev)", "verdict (gev batching)"]
    rows, cats, chart_rows, nmax = [], [], [], 0
    rate = (lambda v: fmt_num(v, "msg/s"))
    for pattern, size, conns in ECHO_PATTERNS:
        f = f"{pattern}.{conns}.txt"
        med, p99 = {}, {}
        for name, _ in ECHO_SERVERS:
            vals = multi(inp.echo_dirs, f"{name}.{f}", "msgs_per_s")
            nmax = max(nmax, len(vals))
            med[name] = median(vals)
            p99[name] = median(multi(inp.echo_dirs, f"{name}.{f}", "p99_us"))
        label = f"{pattern} {size} B x {conns} conn{'s' if conns != 1 else ''}"

        def cell(n):
            if med[n] is None:
                return "n/a"
            return group(med[n]) + (f" (p99 {fmt_us(p99[n])})" if p99[n] is not None else "")
        peers = [("Go", med["go"]), ("gevent", med["gevent"])]
        v1 = rep.judge("TCP echo", f"echo {label}", med["gev"], rate(med["gev"]), peers, "rate",
                       rate)
        v2, _s, _w = verdict(med["gev-batch"], peers, "rate", rep.tie)
        rep.judge_secondary("TCP echo", f"echo {label}", p99["gev"],
                            [("Go", p99["go"]), ("gevent", p99["gevent"])], "time", fmt_us,
                            "p99 round trip")
        rows.append([label, cell("gev"), cell("gev-batch"), cell("go"), cell("gevent"),
                     ratio_text(advantage(med["gev"], med["go"], "rate"), "rate"),
                     ratio_text(advantage(med["gev"], med["gevent"], "rate"), "rate"), v1, v2])
        cats.append(f"{pattern} {size} B x{conns}")
        chart_rows.append([med[n] for n, _ in ECHO_SERVERS])
    md.append("")
    md += md_table(header, rows)
    png = charts.bar("echo", "TCP echo: messages per second (higher is better)", "messages/s",
                     cats, [t for _, t in ECHO_SERVERS], chart_rows)
    embed(md, rep, "TCP echo", png, "TCP echo throughput")
    b = rel(inp.build)
    secs = inp.env.get("GEV_ECHO_SECONDS", "5")
    md += ["", f"Each figure is the median of {nmax} run(s) of bench/echo.sh "
           f"({len(inp.echo_dirs)} output director{'y' if len(inp.echo_dirs) == 1 else 'ies'}). "
           "Every server single-threaded, pinned to core 0; the load generator (Go, "
           "GOMAXPROCS=1) pinned to core 1; loopback. Ping-pong: each connection sends a message "
           "and waits for its whole echo; stream: a writer and a reader per connection.",
           "", "```",
           f"taskset -c 0 {b}/bench/gev_echo_server 19300",
           f"taskset -c 0 env GEV_IO_BATCH_US=50 {b}/bench/gev_echo_server 19303",
           f"taskset -c 0 env GOMAXPROCS=1 {b}/go_echo -mode=server -addr=127.0.0.1:19301"
           "   # bench/peers/go_echo",
           "taskset -c 0 /usr/bin/python3 bench/peers/gevent_echo.py 19302",
           f"GOMAXPROCS=1 taskset -c 1 {b}/go_echo -mode=client -addr=127.0.0.1:PORT "
           f"-conns=CONNS -size=SIZE -seconds={secs} -pattern=PATTERN -server-pid=PID",
           "```", "", f"Raw outputs: `{b}/echo-out/`"
           + (", `" + "`, `".join(rel(d) for d in inp.echo_dirs[1:]) + "`"
              if len(inp.echo_dirs) > 1 else "")
           + f"; measured {mtime_utc(inp.echo_dirs[0]) or 'n/a'}."]


# ---- HTTP ----

HTTP_LOADS = [("plain", 50), ("plain", 1000), ("pipeline", 256)]
HTTP_ONE = [("gev", "gev"), ("nginx", "nginx"), ("go", "Go"), ("gevent", "gevent")]
HTTP_TWO = [("gev-w2", "gev workers=2"), ("gev-2p", "gev 2 processes"),
            ("nginx-w2", "nginx 2 workers"), ("go-w2", "Go (GOMAXPROCS=2)")]


def http_collect(inp, names, load, conns):
    med, p99, n, other, errs = {}, {}, 0, 0, []
    for name in names:
        f = f"{name}.{load}.{conns}.txt"
        vals = multi(inp.http_dirs, f, "req_per_s")
        n = max(n, len(vals))
        med[name] = median(vals)
        p99[name] = median(multi(inp.http_dirs, f, "p99_us"))
        o = multi(inp.http_dirs, f, "other_cpu_pct")
        other = max([other] + o)
        non2xx = multi(inp.http_dirs, f, "non2xx")
        if any(x > 0 for x in non2xx):
            errs.append(f"{name}: non-2xx responses")
    return med, p99, n, other, errs


def wrk_seconds(inp):
    for d in inp.http_dirs:
        for w in glob.glob(os.path.join(d, "*.wrk")):
            m = re.search(r"Running (\S+) test", read_text(w))
            if m:
                return m.group(1)
    return inp.env.get("GEV_HTTP_SECONDS", "5") + "s"


def http_area(inp, rep, charts, md):
    md += ["", "## HTTP plaintext (wrk)", ""]
    if not inp.http_dirs:
        md.append(f"Not measured: no `{rel(inp.build)}/http-out/` (GEV_BENCH_HTTP=0, or wrk "
                  "missing).")
        rep.unmeasured.append(("HTTP", "not measured"))
        return
    md.append("Requests per second, higher is better (wrk's p99 latency in brackets; pipelined "
              "p99 is per batch of 16 and only indicative).")
    req = (lambda v: fmt_num(v, "req/s"))

    def cell(med, p99, n):
        if med[n] is None:
            return "n/a"
        return group(med[n]) + (f" (p99 {fmt_us(p99[n])})" if p99[n] is not None else "")

    # one worker
    md += ["", "### One worker (server on core 0, wrk -t1 on core 1)", ""]
    header = ["load", "gev", "nginx", "Go", "gevent", "gev vs nginx", "gev vs Go",
              "gev vs gevent", "verdict"]
    rows, cats, chart_rows, nmax, notes = [], [], [], 0, []
    for load, conns in HTTP_LOADS:
        med, p99, n, other, errs = http_collect(inp, [k for k, _ in HTTP_ONE], load, conns)
        nmax = max(nmax, n)
        label = f"{load} c={conns}" + (" (16 deep)" if load == "pipeline" else "")
        peers = [("nginx", med["nginx"]), ("Go", med["go"]), ("gevent", med["gevent"])]
        v = rep.judge("HTTP", f"HTTP {label}, 1 worker", med["gev"], req(med["gev"]), peers,
                      "rate", req)
        if load != "pipeline":
            rep.judge_secondary("HTTP", f"HTTP {label}, 1 worker", p99["gev"],
                                [("nginx", p99["nginx"]), ("Go", p99["go"]),
                                 ("gevent", p99["gevent"])], "time", fmt_us, "p99 latency")
        if other > 20:
            v += f" (noisy: other processes used up to {other:.0f}% of a core)"
        notes += [f"{label}: {e}" for e in errs]
        rows.append([label] + [cell(med, p99, k) for k, _ in HTTP_ONE] +
                    [ratio_text(advantage(med["gev"], med[k], "rate"), "rate")
                     for k in ("nginx", "go", "gevent")] + [v])
        cats.append(label)
        chart_rows.append([med[k] for k, _ in HTTP_ONE])
    md += md_table(header, rows)
    png = charts.bar("http", "HTTP plaintext, one worker: requests per second (higher is better)",
                     "requests/s", cats, [t for _, t in HTTP_ONE], chart_rows)
    embed(md, rep, "HTTP", png, "HTTP plaintext, one worker")

    # two workers
    md += ["", "### Two workers (servers and wrk share cores 0,1)", ""]
    any_two = any(multi(inp.http_dirs, f"{k}.{ld}.{c}.txt", "req_per_s")
                  for k, _ in HTTP_TWO for ld, c in HTTP_LOADS)
    if not any_two:
        md.append("Not measured (GEV_HTTP_WORKERS=0, or the runs failed).")
        rep.unmeasured.append(("HTTP", "workers=2 not measured"))
    else:
        header = ["load", "gev workers=2", "gev 2 processes", "nginx 2 workers",
                  "Go (GOMAXPROCS=2)", "workers=2 vs nginx", "2 processes vs nginx",
                  "workers=2 vs Go", "verdict (workers=2)", "verdict (2 processes)"]
        rows, cats, chart_rows = [], [], []
        for load, conns in HTTP_LOADS:
            med, p99, n, other, errs = http_collect(inp, [k for k, _ in HTTP_TWO], load, conns)
            nmax = max(nmax, n)
            label = f"{load} c={conns}" + (" (16 deep)" if load == "pipeline" else "")
            peers = [("nginx 2 workers", med["nginx-w2"]), ("Go GOMAXPROCS=2", med["go-w2"])]
            v1 = rep.judge("HTTP", f"HTTP {label}, gev workers=2", med["gev-w2"],
                           req(med["gev-w2"]), peers, "rate", req)
            v2 = rep.judge("HTTP", f"HTTP {label}, gev 2 processes (SO_REUSEPORT)",
                           med["gev-2p"], req(med["gev-2p"]), peers, "rate", req)
            if other > 20:
                v1 += f" (noisy: other processes up to {other:.0f}%)"
            notes += [f"{label}: {e}" for e in errs]
            rows.append([label] + [cell(med, p99, k) for k, _ in HTTP_TWO] +
                        [ratio_text(advantage(med["gev-w2"], med["nginx-w2"], "rate"), "rate"),
                         ratio_text(advantage(med["gev-2p"], med["nginx-w2"], "rate"), "rate"),
                         ratio_text(advantage(med["gev-w2"], med["go-w2"], "rate"), "rate"),
                         v1, v2])
            cats.append(label)
            chart_rows.append([med[k] for k, _ in HTTP_TWO])
        md += md_table(header, rows)
        png = charts.bar("http-workers", "HTTP plaintext, two workers: requests per second",
                         "requests/s", cats, [t for _, t in HTTP_TWO], chart_rows)
        embed(md, rep, "HTTP", png, "HTTP plaintext, two workers")
        md += ["", "gevent has no two-worker set-up in bench/http.sh (pywsgi is one process; "
               "two would be the 2-processes column). On a 2-core machine wrk competes with the "
               "servers here: compare the columns with each other, not with the one-worker table."]
    if notes:
        md += ["", "wrk reported: " + "; ".join(notes) + "."]
    b = rel(inp.build)
    secs = wrk_seconds(inp)
    md += ["", f"Each figure is the median of {nmax} run(s) of bench/http.sh "
           f"({len(inp.http_dirs)} output director{'y' if len(inp.http_dirs) == 1 else 'ies'}); "
           "each run: 1 s warm-up on the same connections, then the measured run; all servers of "
           "a set-up run at once and the loads interleave. Every server answers 200 text/plain "
           "`Hello, World!`.", "", "```",
           f"taskset -c 0 {b}/bench/gev_http_server 19400",
           "taskset -c 0 nginx -p TMP -c TMP/nginx-1.conf      # worker_processes 1, "
           "access_log off, keepalive_requests 1000000, return 200 \"Hello, World!\"",
           f"taskset -c 0 env GOMAXPROCS=1 {b}/go_http -addr=127.0.0.1:19402"
           "   # bench/peers/go_http",
           "taskset -c 0 /usr/bin/python3 bench/peers/gevent_http.py 19403   # pywsgi, TCP_NODELAY",
           f"taskset -c 0,1 {b}/bench/gev_http_server 19404 --workers 2",
           f"taskset -c 0,1 {b}/bench/gev_http_server 19405 --reuse-port    # twice",
           "taskset -c 0,1 nginx -p TMP -c TMP/nginx-2.conf      # worker_processes 2, reuseport",
           f"taskset -c 0,1 env GOMAXPROCS=2 {b}/go_http -addr=127.0.0.1:19407",
           f"taskset -c 1 wrk -t1 -c50 -d{secs} --timeout 10s --latency "
           "-s bench/peers/latency.lua http://127.0.0.1:PORT/plaintext",
           f"taskset -c 1 wrk -t1 -c1000 -d{secs} --timeout 10s --latency "
           "-s bench/peers/latency.lua http://127.0.0.1:PORT/plaintext",
           f"taskset -c 1 wrk -t1 -c256 -d{secs} --timeout 10s --latency "
           "-s bench/peers/pipeline.lua http://127.0.0.1:PORT/plaintext -- 16",
           "(two workers: wrk on taskset -c 0,1)",
           "```", "", f"Raw outputs: `{b}/http-out/`"
           + (", `" + "`, `".join(rel(d) for d in inp.http_dirs[1:]) + "`"
              if len(inp.http_dirs) > 1 else "")
           + f"; measured {mtime_utc(inp.http_dirs[0]) or 'n/a'}."]


# ---- downloads ----

DL_TOOLS = ["gevget", "curl", "aria2c", "wget", "gevent"]


def download_sections(md_text):
    """From bench-download.md: {workload: (title, [commands])}, skipped notes, versions, host."""
    out, skipped, versions, head = {}, {}, [], []
    cur = None
    in_code = False
    for line in md_text.splitlines():
        if line.startswith("### "):
            title = line[4:].strip()
            cur = "small" if "KiB" in title else ("large" if "MiB" in title else title)
            if ": skipped" in title:
                skipped[cur] = title
                cur = None
                continue
            out[cur] = (re.sub(r" \(median of .*\)$", "", title), [])
            continue
        if line.startswith("```"):
            in_code = not in_code
            continue
        if in_code and cur in out:
            out[cur][1].append(line.strip())
        elif line.startswith("- ") and ": " in line and cur is not None and not in_code:
            if re.match(r"- (gevget|curl|aria2c|wget|gevent|nginx): ", line):
                versions.append(line[2:])
        elif line.startswith(("host:", "server:")):
            head.append(line)
    return out, skipped, versions, head


def download_area(inp, rep, charts, md):
    md += ["", "## Downloads (gevget vs curl, aria2c, wget, gevent)", ""]
    out = inp.download_out
    if not os.path.isdir(out):
        md.append(f"Not measured: no `{rel(inp.build)}/download-out/` (GEV_BENCH_DOWNLOAD=0?).")
        rep.unmeasured.append(("downloads", "not measured"))
        return
    sections, skipped, versions, head = download_sections(inp.download_md)
    md.append("Wall time from a local nginx over loopback, lower is better; every run's files "
              "verified (count + sha256).")
    header = ["workload", "gevget"] + DL_TOOLS[1:] + [f"gevget vs {t}" for t in DL_TOOLS[1:]] + \
        ["verdict"]
    rows, extra_rows, cats, chart_rows, counts = [], [], [], [], {}
    sec = fmt_s
    for w in ("small", "large"):
        title = sections.get(w, (w, []))[0]
        if w in skipped:
            rows.append([skipped[w]] + ["n/a"] * (len(header) - 1))
            rep.unmeasured.append(("downloads", skipped[w]))
            continue
        med, cpu, rss, status = {}, {}, {}, {}
        for t in DL_TOOLS:
            files = glob.glob(os.path.join(out, f"{w}.{t}.*.txt"))
            logs = glob.glob(os.path.join(out, f"{w}.{t}.*.log"))
            vals = [read_kv(f) for f in files]
            med[t] = median([v.get("wall") for v in vals])
            cpu[t] = median([v.get("cpu") for v in vals])
            rss[t] = median([v.get("rss_mib") for v in vals])
            counts.setdefault(t, []).append(len(files))
            status[t] = "FAILED" if logs and not files else "n/a"
        if all(med[t] is None for t in DL_TOOLS):
            rows.append([title] + ["n/a"] * (len(header) - 1))
            rep.unmeasured.append(("downloads", f"{title}: not measured"))
            continue
        peers = [(t, med[t]) for t in DL_TOOLS[1:]]
        v = rep.judge("downloads", f"download {title}", med["gevget"], sec(med["gevget"]), peers,
                      "time", sec, who="gevget")
        rep.judge_secondary("downloads", f"download {title}", cpu["gevget"],
                            [(t, cpu[t]) for t in DL_TOOLS[1:]], "time",
                            lambda x: f"{x:.2f} s", "CPU time (user + system)", who="gevget")
        rep.judge_secondary("downloads", f"download {title}", rss["gevget"],
                            [(t, rss[t]) for t in DL_TOOLS[1:]], "memory",
                            lambda x: f"{x:.1f} MiB", "peak RSS", who="gevget")
        for t in DL_TOOLS:
            if status[t] == "FAILED" and med[t] is None:
                rep.unmeasured.append(("downloads", f"{title}: {t} FAILED (see download-out/)"))
        rows.append([title] + [sec(med[t]) if med[t] is not None else status[t]
                               for t in DL_TOOLS] +
                    [ratio_text(advantage(med["gevget"], med[t], "time"), "time")
                     for t in DL_TOOLS[1:]] + [v])
        extra_rows.append([title] + [f"{cpu[t]:.2f} s / {rss[t]:.1f} MiB"
                                     if cpu[t] is not None else "n/a" for t in DL_TOOLS])
        cats.append(title)
        chart_rows.append([med[t] for t in DL_TOOLS])
    md.append("")
    md += md_table(header, rows)
    if extra_rows:
        md += ["", "CPU time (user + system) / peak RSS of each tool (median):", ""]
        md += md_table(["workload"] + DL_TOOLS, extra_rows)
    png = charts.bar("downloads", "Downloads from local nginx: wall time (lower is better)",
                     "seconds", cats, DL_TOOLS, chart_rows)
    embed(md, rep, "downloads", png, "Download wall time")
    runs = ", ".join(f"{t} {'/'.join(str(c) for c in counts[t])}" for t in DL_TOOLS
                     if t in counts)
    md += ["", f"Each figure is the median of the runs of bench/download.sh (runs per workload, "
           f"in the order of the table: {runs}); the tools interleave in an order rotated every run; nginx "
           "(1 worker, sendfile) on core 0, every client pinned to core 1."]
    if head:
        md += [""] + [f"{h}  " for h in head]
    for w in ("small", "large"):
        if w in sections and sections[w][1]:
            md += ["", f"{sections[w][0]}:", "", "```"]
            md += [re.sub(r"^" + re.escape(inp.build) + "/", rel(inp.build) + "/", c)
                   .replace(inp.build + "/", rel(inp.build) + "/").replace(REPO + "/", "")
                   for c in sections[w][1]]
            md.append("```")
    if versions:
        md += ["", "Versions: " + "; ".join(v.replace(REPO + "/", "") for v in versions) + "."]
    md += ["", f"Raw outputs: `{rel(inp.build)}/download-out/`; measured "
           f"{mtime_utc(out) or 'n/a'}."]


# ---- versions and the page -------------------------------------------------------------------------


def probe(cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    text = (r.stdout.strip() or r.stderr.strip()).splitlines()
    if not text or (r.returncode != 0 and "version" not in text[0].lower()
                    and not re.search(r"\d+\.\d+", text[0])):
        return None
    return re.sub(r"\s*(\[epoll\]\s*)?Copyright.*", "", text[0].strip())


def versions(inp):
    """[(name, version, source)]: recorded by compare.sh (env.txt), else from the run's own
    outputs, else probed now (and said so)."""
    env = inp.env
    rows = []
    recorded = {k[len("version "):]: v for k, v in env.items() if k.startswith("version ")}
    info = inp.info
    fallback = {
        "gevent": info.get("gevent"),
        "Go": info.get("Go"),
    }
    m = re.search(r"wrk -t1 \((wrk [^)]*)\)", read_text(os.path.join(inp.bench_out, "http.txt")))
    if m:
        fallback["wrk"] = m.group(1)
    for line in inp.download_md.splitlines():
        m = re.match(r"- (nginx|curl|aria2c|wget): (.*)", line)
        if m:
            fallback[m.group(1)] = m.group(2)
    probes = {
        "compiler": ["c++", "--version"],
        "cmake": ["cmake", "--version"],
        "gevent": [os.environ.get("GEVENT_PYTHON", "/usr/bin/python3"), "-c",
                   "import gevent, sys; print(gevent.__version__, 'on Python', "
                   "sys.version.split()[0])"],
        "Go": ["go", "version"],
        "nginx": ["nginx", "-v"],
        "wrk": ["wrk", "-v"],
        "curl": ["curl", "--version"],
        "aria2c": ["aria2c", "--version"],
        "wget": ["wget", "--version"],
        "gnuplot": ["gnuplot", "--version"],
    }
    for name in ["compiler", "cmake", "gevent", "Go", "nginx", "wrk", "curl", "aria2c", "wget",
                 "gnuplot"]:
        if recorded.get(name):
            rows.append((name, recorded[name], ""))
        elif fallback.get(name):
            rows.append((name, fallback[name], ""))
        else:
            v = probe(probes[name])
            if v and name == "curl":
                v = " ".join(v.split()[:2])
            rows.append((name, v or "not installed", " (probed when the report was written)"))
    return rows


def machine(inp):
    info, env = inp.info, inp.env
    if env.get("host") or info.get("host"):
        return [f"host: {env.get('host') or info.get('host')}",
                f"cpu: {env.get('cpu') or info.get('cpu', 'n/a')}"]
    cpu = "n/a"
    for line in read_text("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return [f"host (probed when the report was written): {os.cpu_count()} cores, "
            f"{platform.system()} {platform.release()}", f"cpu: {cpu}"]


def build_page(inp, rep, charts):
    body = []
    runtime_med = runtime_area(inp, rep, charts, body)
    memory_area(inp, rep, charts, body, runtime_med)
    echo_area(inp, rep, charts, body)
    http_area(inp, rep, charts, body)
    download_area(inp, rep, charts, body)

    head = ["# gev performance: side by side with gevent, Go, nginx, curl, aria2c and wget", "",
            "This page compares gev with the programs people would otherwise use for the same "
            "job, all measured in one run on one machine: the runtime (greenlets, events, "
            "queues, timeouts) against gevent and Go, a TCP echo server against Go and gevent, "
            "an HTTP server against nginx, Go net/http and gevent pywsgi, memory per parked "
            "greenlet and per idle connection, and gevget against curl, aria2c, wget and a "
            "gevent downloader. Absolute figures drift between machines and runs: every claim "
            "here is a ratio against a peer measured in the same run.", "",
            "## Reproduce", "",
            "```", "make compare", "```", "",
            "`make compare` installs what is missing (scripts/install-deps.sh bench: "
            "python3-gevent, golang-go, nginx-light, wrk, aria2, wget, time; plus gnuplot-nox), "
            "builds gev in Release, runs bench/run.sh (runtime, 1M parked greenlets, TCP echo, "
            "HTTP, downloads), repeats the TCP echo and HTTP runs (GEV_COMPARE_NET_RUNS, default "
            "3 in all), and writes this page with bench/performance.py. Give it a quiet machine "
            "(it takes 30-40 minutes); `bench/compare.sh --report-only build-release` rewrites "
            "the page from the last run's outputs.", "",
            "Rules (DESIGN.md): every server and benchmark is single-threaded and pinned to core "
            "0 (`taskset -c 0`; Go with GOMAXPROCS=1), every load generator and download client "
            "to core 1; each figure is the median of several runs, and the runs interleave gev "
            "and its peers so that load from elsewhere hits them alike. \"gev vs X\" is the "
            "ratio of the two medians, worded from gev's side (\"2.00x faster\": X took twice as "
            f"long, or served half the rate). A ratio within {rep.tie * 100:.0f}% of 1 counts "
            "as level (noise), not as ahead.", ""]
    date = inp.env.get("date") or inp.info.get("date") or mtime_utc(inp.bench_out) or "n/a"
    head += ["## Run", "", "```", f"date: {date}"] + machine(inp)
    pin = inp.info.get("pinning")
    if pin:
        head.append(f"pinning: {pin}")
    gev_line = inp.env.get("gev") or inp.info.get("gev")
    if gev_line:
        head.append(f"gev: {gev_line}")
    probed = False
    for name, v, src in versions(inp):
        head.append(f"{name}: {v}{src}")
        probed = probed or bool(src)
    settings = [f"{k}={v}" for k, v in inp.env.items() if k.startswith("GEV_")]
    if settings:
        head.append("settings: " + " ".join(settings))
    head += ["```", ""]
    if not inp.env:
        head += [f"(No `{rel(inp.build)}/compare-out/env.txt`: these outputs were not made by "
                 "`make compare`; versions come from the run's own outputs where they were "
                 "recorded" + (", the rest was probed when this page was written" if probed
                               else "") + ".)", ""]

    head += ["## Where gev is not ahead", ""]
    if rep.not_ahead:
        head.append("gev is **not ahead of every peer** in these measures (primary figure of "
                    "each row: time, rate or memory):")
        head.append("")
        head += [f"- {area}: {text}" for area, text in rep.not_ahead]
    elif rep.compared:
        head.append(f"gev is ahead of every measured peer in all {rep.compared} compared rows "
                    "(primary figure of each row) of this run.")
    else:
        head.append("Nothing was compared: this run has no figure of gev next to a peer's.")
    if rep.secondary:
        head += ["", "Secondary figures where a peer does better (latency, CPU, memory of a "
                 "tool):", ""]
        head += [f"- {area}: {text}" for area, text in rep.secondary]
    if rep.targets:
        head += ["", "Targets of DESIGN.md and the issues missed:", ""]
        head += [f"- {area}: {text}" for area, text in rep.targets]
    if rep.unmeasured:
        head += ["", "Not measured in this run (n/a below):", ""]
        head += [f"- {area}: {text}" for area, text in rep.unmeasured]
    if charts.problem:
        head += ["", f"Charts: {charts.problem}."]
    head += causes_section()
    return "\n".join(head + body) + "\n"


def causes_section():
    """The hand-written profiling notes (bench/causes/*.md) for the places gev is behind."""
    first = ["runtime.md", "network.md"]  # in the order of the page's areas
    notes = sorted(glob.glob(os.path.join(REPO, "bench", "causes", "*.md")),
                   key=lambda n: (first.index(os.path.basename(n))
                                  if os.path.basename(n) in first else len(first), n))
    if not notes:
        return []
    out = ["", "## Why: what profiling found", "",
           "Written by hand from `perf` profiles of the gaps above (bench/causes/"
           + ", ".join(os.path.basename(n) for n in notes) + "); the figures they quote are from "
           "the runs they name, which may be earlier than this page's."]
    for note in notes:
        # The notes are pages of their own: "# " becomes "### " here, "### " becomes "##### ".
        text = re.sub(r"(?m)^(#+) ", lambda m: "#" * min(len(m.group(1)) + 2, 6) + " ",
                      read_text(note).strip())
        out += ["", text]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(REPO, "build-release"),
                    help="build directory with the run's outputs (default build-release)")
    ap.add_argument("--out-dir", default=os.path.join(REPO, "docs"),
                    help="where performance.md and performance/*.png go (default docs/)")
    ap.add_argument("--tie", type=float, default=TIE,
                    help="a ratio within this fraction of 1 is level, not ahead (default 0.03)")
    ap.add_argument("--no-charts", action="store_true", help="leave the PNG charts out")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    if not os.path.isdir(build):
        sys.exit(f"performance.py: no build directory {args.build}")
    out_dir = os.path.abspath(args.out_dir)
    os.makedirs(out_dir, exist_ok=True)
    charts = Charts(out_dir, not args.no_charts)
    # Charts of an earlier run must not stay next to a page that no longer shows them.
    for old in glob.glob(os.path.join(charts.out_dir, "*.png")):
        os.remove(old)
    rep = Report(args.tie)
    page = build_page(Inputs(build), rep, charts)
    path = os.path.join(out_dir, "performance.md")
    with open(path, "w") as f:
        f.write(page)
    print(f"performance.py: wrote {path}"
          + (f" and {len(rep.charts)} chart(s) in {charts.out_dir}/" if rep.charts else
             f" (no charts: {charts.problem or 'no data'})"))


if __name__ == "__main__":
    main()
