#!/usr/bin/python3
"""gevent peer for bench/run.sh: the same measurements as gev's bench/micro.cpp and
bench/memory.cpp, printed as `key value` lines.

Run with the system interpreter (/usr/bin/python3, which has gevent 22.10), pinned to one core:

    taskset -c 0 /usr/bin/python3 bench/peers/gevent_bench.py [--quick]
"""
import gc
import sys
import time

import gevent
import greenlet
from gevent.event import Event

QUICK = "--quick" in sys.argv[1:]


def emit(key, value):
    print(f"{key} {value}", flush=True)


def status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def warm_then_time(fn):
    """One untimed warm-up call, then one timed call (fn returns seconds per op). Google
    Benchmark's preliminary runs play the warm-up role for gev; run.sh takes the median of 3
    processes."""
    fn()
    return fn()


def bench_yield():
    n = 20_000 if QUICK else 100_000

    def pinger():
        for _ in range(n):
            gevent.sleep(0)

    def once():
        t0 = time.perf_counter()
        a = gevent.spawn(pinger)
        b = gevent.spawn(pinger)
        a.join()
        b.join()
        return (time.perf_counter() - t0) / (2 * n)

    return warm_then_time(once)


def bench_spawn_join():
    n = 5_000 if QUICK else 20_000

    def noop():
        pass

    gevent.spawn(noop).join()

    def once():
        t0 = time.perf_counter()
        for _ in range(n):
            g = gevent.spawn(noop)
            g.join()
        return (time.perf_counter() - t0) / n

    return warm_then_time(once)


def bench_sleep_100k():
    n = 100_000
    woke = [0]

    def sleeper():
        gevent.sleep(0.01)
        woke[0] += 1

    def once():
        t0 = time.perf_counter()
        gs = [gevent.spawn(sleeper) for _ in range(n)]
        gevent.joinall(gs)
        return time.perf_counter() - t0

    once()  # warm-up round, like gev's and Go's
    woke[0] = 0
    total = once()  # one timed round: gevent is slow; gev and Go average 3
    assert woke[0] == n, woke[0]
    return total


def bench_timeout_arm_cancel():
    n = 50_000 if QUICK else 200_000

    def once():
        t0 = time.perf_counter()
        for _ in range(n):
            with gevent.Timeout(1):
                pass
        return (time.perf_counter() - t0) / n

    return warm_then_time(once)


def bench_wake_100k():
    n = 100_000
    woke = [0]

    def once():
        ev = Event()
        all_woke = Event()
        remaining = [n]

        def waiter():
            ev.wait()
            woke[0] += 1
            remaining[0] -= 1
            if remaining[0] == 0:
                all_woke.set()

        gs = [gevent.spawn(waiter) for _ in range(n)]
        gevent.sleep(0)  # every waiter runs and parks in ev.wait()
        t0 = time.perf_counter()
        ev.set()
        all_woke.wait()  # as gev and Go (WaitGroup): until the last waiter woke, no joinall
        per = (time.perf_counter() - t0) / n
        gevent.joinall(gs)
        return per

    once()
    woke[0] = 0
    per = once()  # one timed round: gevent is slow; gev and Go average 3
    assert woke[0] == n, woke[0]
    return per


def bench_queue_pingpong():
    """Seconds per round trip: A puts into q1 and gets from q2; B gets from q1 and puts into q2."""
    from gevent.queue import Queue

    n = 10_000 if QUICK else 50_000

    def once():
        q1, q2 = Queue(), Queue()

        def a():
            for i in range(n):
                q1.put(i)
                q2.get()

        def b():
            for _ in range(n):
                q2.put(q1.get())

        t0 = time.perf_counter()
        ga, gb = gevent.spawn(a), gevent.spawn(b)
        gevent.joinall([ga, gb])
        return (time.perf_counter() - t0) / n

    return warm_then_time(once)


def bench_pool_100k():
    """Seconds to run 100k trivial tasks through a Pool(1000) (spawn each, then join)."""
    from gevent.pool import Pool

    n = 20_000 if QUICK else 100_000

    def once():
        pool = Pool(1000)
        t0 = time.perf_counter()
        for _ in range(n):
            pool.spawn(int)
        pool.join()
        return (time.perf_counter() - t0) * (100_000 / n)

    return warm_then_time(once)


def bench_raw_switch():
    """greenlet.switch ping-pong without the hub: the floor under every gevent switch."""
    n = 100_000 if QUICK else 500_000
    main = greenlet.getcurrent()

    def partner():
        while True:
            main.switch()

    g = greenlet.greenlet(partner)

    def once():
        t0 = time.perf_counter()
        for _ in range(n):
            g.switch()
        return (time.perf_counter() - t0) / (2 * n)

    per = warm_then_time(once)
    g.throw(greenlet.GreenletExit)
    return per


def bench_rss_parked(n=100_000):
    gevent.spawn(lambda: None).join()
    gc.collect()
    parked = [0]

    def sleeper():
        parked[0] += 1
        gevent.sleep(24 * 3600)

    rss0 = status_kib("VmRSS")
    t0 = time.perf_counter()
    gs = [gevent.spawn(sleeper) for _ in range(n)]
    gevent.sleep(0)
    spawn_s = time.perf_counter() - t0
    rss1 = status_kib("VmRSS")
    assert parked[0] == n, parked[0]
    t1 = time.perf_counter()
    gevent.killall(gs)
    kill_s = time.perf_counter() - t1
    assert all(g.dead for g in gs)
    return (rss1 - rss0) / n, spawn_s, kill_s


def bench_socket_pingpong():
    """Two greenlets bounce one byte over a socketpair: gevent.socket is what
    monkey.patch_all() installs as socket.socket, so this is patched stdlib socket code."""
    from gevent import socket as gsocket

    n = 5_000 if QUICK else 20_000
    a, b = gsocket.socketpair()

    def echo():
        for _ in range(n):
            b.sendall(b.recv(1))

    def ping():
        for _ in range(n):
            a.sendall(b"x")
            a.recv(1)

    def once():
        t0 = time.perf_counter()
        g1 = gevent.spawn(echo)
        g2 = gevent.spawn(ping)
        g2.join()
        g1.join()
        return (time.perf_counter() - t0) / n

    try:
        return warm_then_time(once)
    finally:
        a.close()
        b.close()


def parked_only(argv):
    """`--parked N`: only the parked-memory figures, for N greenlets (bench/run.sh's 1M run)."""
    if "--parked" not in argv:
        return None
    i = argv.index("--parked")
    return int(argv[i + 1]) if i + 1 < len(argv) else None


def main():
    emit("peer", f"gevent-{gevent.__version__}")
    n = parked_only(sys.argv[1:])
    if n:
        rss, spawn_s, kill_s = bench_rss_parked(n)
        emit("greenlets", n)
        emit("rss_per_parked_kib", f"{rss:.3f}")
        emit("spawn_park_s", f"{spawn_s:.3f}")
        emit("kill_unwind_s", f"{kill_s:.3f}")
        emit("rss_peak_kib", status_kib("VmHWM"))
        emit("result", "ok")
        return
    # Memory first, so the other benchmarks' garbage does not blur it.
    rss, spawn_s, kill_s = bench_rss_parked()
    emit("rss_per_parked_kib", f"{rss:.3f}")
    emit("spawn_park_100k_s", f"{spawn_s:.3f}")
    emit("kill_unwind_100k_s", f"{kill_s:.3f}")
    emit("yield_ns", f"{bench_yield() * 1e9:.1f}")
    emit("spawn_join_ns", f"{bench_spawn_join() * 1e9:.1f}")
    emit("sleep_100k_s", f"{bench_sleep_100k():.4f}")
    emit("timeout_arm_cancel_ns", f"{bench_timeout_arm_cancel() * 1e9:.1f}")
    emit("wake_100k_ns_per_waiter", f"{bench_wake_100k() * 1e9:.1f}")
    emit("raw_switch_ns", f"{bench_raw_switch() * 1e9:.1f}")
    emit("queue_pingpong_ns", f"{bench_queue_pingpong() * 1e9:.1f}")
    emit("pool_100k_s", f"{bench_pool_100k():.4f}")
    emit("socket_pingpong_ns", f"{bench_socket_pingpong() * 1e9:.1f}")


if __name__ == "__main__":
    main()
