#!/usr/bin/env python3
"""Builds the side-by-side table for bench/run.sh from the raw outputs in OUT_DIR.

    report.py OUT_DIR MARKDOWN_FILE

OUT_DIR holds, for each run i: gev_micro.i.json (Google Benchmark JSON), gev_memory.i.txt,
gevent.i.txt, go.i.txt (`key value` lines), plus gev_memory_1m.txt. A file that is missing or
empty counts as "not measured" (n/a). Each figure is the median over the runs that produced it.
"""
import glob
import json
import os
import re
import statistics
import sys

# gev_micro benchmark name -> (key, counter)
MICRO = {
    "BM_yield": ("yield_ns", "ns_per_yield"),
    "BM_spawn_join": ("spawn_join_ns", "ns_per_op"),
    "BM_sleep_100k": ("sleep_100k_s", "s_total"),
    "BM_timeout_arm_cancel": ("timeout_arm_cancel_ns", "ns_per_op"),
    "BM_wake_100k": ("wake_100k_ns_per_waiter", "ns_per_waiter"),
    "BM_raw_switch": ("raw_switch_ns", "ns_per_switch"),
    "BM_queue_pingpong": ("queue_pingpong_ns", "ns_per_round_trip"),
    "BM_pool_100k": ("pool_100k_s", "s_total"),
    # gev_monkey_micro
    "BM_monkey_pingpong": ("socket_pingpong_ns", "ns_per_round_trip"),
    "BM_net_pingpong": ("net_socket_pingpong_ns", "ns_per_round_trip"),
    "BM_hook_overhead": ("hook_overhead_ns", "ns_overhead"),
}
# gev_memory key -> common key
MEMORY = {
    "rss_per_parked_kib": "rss_per_parked_kib",
    "spawn_park_s": "spawn_park_100k_s",
    "kill_unwind_s": "kill_unwind_100k_s",
}

# (key, measure, unit, kind, target text, target limit, note) -- kind "time" or "memory"; every
# figure here is better when lower. Notes go under the markdown table.
ROWS = [
    ("yield_ns", "yield via hub, per yield", "ns", "time", "<= 40 ns", 40.0,
     "two greenlets ping-pong with sleep(0) (gevent.sleep(0), Go runtime.Gosched); one yield is "
     "one greenlet switching out through the hub and the next one switching in"),
    ("spawn_join_ns", "spawn + join, trivial greenlet", "ns", "time", "<= 200 ns", 200.0,
     "spawn one greenlet that returns at once, join it; one at a time (Go: go func + WaitGroup)"),
    ("sleep_100k_s", "100k x sleep(10 ms), total", "s", "time", "<= 0.05 s", 0.05,
     "wall time to spawn 100k greenlets that each sleep 10 ms and join them all; after one "
     "untimed warm-up round"),
    ("wake_100k_ns_per_waiter", "Event.set waking 100k waiters, per waiter", "ns", "time",
     "<= 100 ns", 100.0,
     "from the wake-up until all 100k waiters have run (each counts itself; the last sets a "
     "done event, as Go's WaitGroup). gev: Event::set; gevent: Event.set; Go: close(chan)"),
    ("queue_pingpong_ns", "Queue ping-pong, per round trip", "ns", "time", "< Go", None,
     "two greenlets bounce an int through two Queue<int>s (put then get, both ways); gevent: "
     "gevent.queue.Queue; Go: two unbuffered channels. The issue asks gev to beat Go here"),
    ("pool_100k_s", "Pool(1000): spawn + join 100k trivial tasks", "s", "time", "-", None,
     "gev::Pool / gevent.pool.Pool of 1000; Go: a 1000-slot buffered channel as the semaphore "
     "plus a WaitGroup"),
    ("rss_per_parked_kib", "RSS per parked greenlet (100k)", "KiB", "memory", "<= 8 KiB", 8.0,
     "VmRSS growth / 100k after every greenlet ran and parked in a 24 h sleep (Go: a 24 h "
     "timer in a select), handles included; page tables (VmPTE) are not in VmRSS"),
    ("timeout_arm_cancel_ns", "Timeout arm + cancel", "ns", "time", "-", None,
     "gev: RAII gev::Timeout{1s} constructed and destroyed; gevent: `with gevent.Timeout(1)`; "
     "Go: time.NewTimer + Stop"),
    ("spawn_park_100k_s", "spawn + park 100k", "s", "time", "-", None,
     "from the memory run: spawn 100k greenlets and let each park"),
    ("kill_unwind_100k_s", "kill + unwind 100k parked", "s", "time", "-", None,
     "from the memory run: kill the 100k parked greenlets (exception unwinds each stack) and join "
     "them; Go cannot kill a goroutine, so it closes the channel they select on"),
    ("socket_pingpong_ns", "socket ping-pong, plain read/write patched, per round trip", "ns",
     "time", "-", None,
     "two greenlets bounce one byte over a blocking socketpair with unmodified ::write/::read, "
     "made cooperative by gev::monkey::patch_all(); gevent: gevent.socket (what monkey.patch_all "
     "installs as socket.socket); Go: two goroutines on net.FileConn over a socketpair"),
    ("net_socket_pingpong_ns", "the same with gev::net::Socket (gev only)", "ns", "time", "-", None,
     "gev's own socket API on the same socketpair: the difference to the row above is what "
     "the hooks cost per round trip (two fcntl/getsockopt pairs to learn the program's "
     "O_NONBLOCK and SO_RCVTIMEO before each park)"),
    ("hook_overhead_ns", "hook overhead on a call that does not block (gev only)", "ns", "time",
     "-", None,
     "a ready 1-byte write + read through the hooks minus the same through "
     "gev::monkey::original, per call"),
    ("raw_switch_ns", "raw switch, no hub", "ns", "time", "~5 ns limit", None,
     "gev exposes no raw switch: this is Boost.Context's fiber (the primitive under every gev "
     "switch), measured in gev_micro; gevent: greenlet.switch between two raw greenlets"),
]

PEERS = ("gev", "gevent", "go")


def read_kv(path):
    out = {}
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2:
                    try:
                        out[parts[0]] = float(parts[1])
                    except ValueError:
                        out[parts[0]] = parts[1]
    except OSError:
        pass
    return out


def read_micro(path):
    out = {}
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return out
    for b in data.get("benchmarks", []):
        base = b.get("run_name", b.get("name", "")).split("/")[0]
        if base in MICRO:
            key, counter = MICRO[base]
            if counter in b:
                out[key] = float(b[counter])
    return out


def run_index(path):
    m = re.search(r"\.(\d+)\.(json|txt)$", path)
    return int(m.group(1)) if m else 0


def collect(out_dir):
    """{peer: {key: [values over runs]}}"""
    runs = {p: {} for p in PEERS}

    def add(peer, kv):
        for k, v in kv.items():
            if isinstance(v, float):
                runs[peer].setdefault(k, []).append(v)

    for path in sorted(glob.glob(os.path.join(out_dir, "gev_micro.*.json")), key=run_index):
        add("gev", read_micro(path))
    for path in sorted(glob.glob(os.path.join(out_dir, "gev_monkey.*.json")), key=run_index):
        add("gev", read_micro(path))
    for path in sorted(glob.glob(os.path.join(out_dir, "gev_memory.*.txt")), key=run_index):
        kv = read_kv(path)
        if kv.get("result") != "ok":
            continue
        add("gev", {MEMORY[k]: v for k, v in kv.items() if k in MEMORY})
    for peer in ("gevent", "go"):
        for path in sorted(glob.glob(os.path.join(out_dir, f"{peer}.*.txt")), key=run_index):
            add(peer, read_kv(path))
    return runs


def fmt(value, unit):
    if value is None:
        return "n/a"
    if unit == "s":
        text = f"{value:.3f}" if value >= 0.1 else f"{value:.4f}"
    elif value >= 1000:
        text = f"{value:,.0f}"
    elif value >= 100:
        text = f"{value:.0f}"
    elif value >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}"


def ratio(gev, peer, kind):
    """How gev compares with a peer, in words (every figure is better when lower)."""
    if gev is None or peer is None or gev <= 0 or peer <= 0:
        return "n/a"
    better, worse = ("faster", "slower") if kind == "time" else ("smaller", "larger")
    r = peer / gev
    if r >= 1:
        return f"{r:.2f}x {better}" if r < 10 else f"{r:.0f}x {better}"
    r = gev / peer
    return f"{r:.2f}x {worse}" if r < 10 else f"{r:.0f}x {worse}"


def median(values):
    return statistics.median(values) if values else None


def build(out_dir):
    runs = collect(out_dir)
    med = {p: {k: median(v) for k, v in runs[p].items()} for p in PEERS}
    header = ["measure", "gev", "gevent", "Go", "gev vs gevent", "gev vs Go", "target"]
    rows = []
    for key, measure, unit, kind, target, limit, _note in ROWS:
        g, ge, go = med["gev"].get(key), med["gevent"].get(key), med["go"].get(key)
        if key == "raw_switch_ns":
            go = None  # Go has no user-visible raw switch
        tgt = target
        if limit is not None:
            tgt = f"{target}: " + ("n/a" if g is None else ("met" if g <= limit else "MISSED"))
        rows.append([measure, fmt(g, unit), fmt(ge, unit), fmt(go, unit), ratio(g, ge, kind),
                     ratio(g, go, kind), tgt])

    one_m = read_kv(os.path.join(out_dir, "gev_memory_1m.txt"))
    if one_m:
        ok = one_m.get("result") == "ok"
        per = one_m.get("rss_per_parked_kib")
        peak = one_m.get("rss_peak_kib")
        if ok and isinstance(per, float):
            cell = f"{per:.2f} KiB each, all unwound"
            if isinstance(peak, float):
                cell += f", peak {peak / 1048576:.1f} GiB"
            small = "met" if per <= 8.0 else "MISSED"
            verdict = f"fits: met; <= 8 KiB: {small}"
        else:
            code = one_m.get("exit_code")
            cell = "FAILED" + (f" (exit {code:g})" if isinstance(code, float) else "")
            verdict = "fits: MISSED"
        rows.append(["1M parked greenlets (1 run)", cell, "n/a", "n/a", "n/a", "n/a", verdict])
    return header, rows, runs


def render_text(header, rows):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = " | ".join(h.ljust(w) for h, w in zip(header, widths))
    out = [line, "-+-".join("-" * w for w in widths)]
    for r in rows:
        out.append(" | ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    return "\n".join(out)


def render_markdown(header, rows, runs, out_dir):
    md = ["# gev benchmark results", ""]
    info = os.path.join(out_dir, "info.txt")
    if os.path.exists(info):
        with open(info) as f:
            md += ["```", f.read().rstrip(), "```", ""]
    md.append("| " + " | ".join(header) + " |")
    md.append("|" + "|".join("---" for _ in header) + "|")
    for r in rows:
        md.append("| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |")
    md += ["",
           "Each figure is the median of the runs listed below (lower is better everywhere). "
           "\"gev vs X\" compares gev's median with X's median from the same run of run.sh.", ""]
    md += [f"- **{measure}**: {note}." for _k, measure, _u, _kind, _t, _l, note in ROWS]
    one_m = read_kv(os.path.join(out_dir, "gev_memory_1m.txt"))
    line = ("- **1M parked greenlets**: `gev_memory 1000000`, run once: park 1,000,000 greenlets "
            "in a 24 h sleep, read VmRSS, kill them all, check that every one unwound and finished")
    times = [(k, one_m.get(k)) for k in ("spawn_park_s", "kill_unwind_s", "pte_per_parked_kib")]
    if any(isinstance(v, float) for _k, v in times):
        line += " (" + ", ".join(f"{k} {v:g}" for k, v in times if isinstance(v, float)) + ")"
    md += [line + ".", "", "## Every run", ""]
    for peer in PEERS:
        for key, values in sorted(runs[peer].items()):
            md.append(f"- {peer} {key}: " + ", ".join(f"{v:g}" for v in values))
    return "\n".join(md) + "\n"


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: report.py OUT_DIR MARKDOWN_FILE")
    out_dir, md_path = sys.argv[1], sys.argv[2]
    header, rows, runs = build(out_dir)
    print(render_text(header, rows))
    with open(md_path, "w") as f:
        f.write(render_markdown(header, rows, runs, out_dir))


if __name__ == "__main__":
    main()
