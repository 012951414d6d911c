"""Idle keep-alive client for bench/http.sh: the server's memory per idle connection.

    python3 idle_conns.py PORT N SERVER_PID[,PID...]

Reads the server's VmRSS (/proc/PID/status, summed over the PIDs), then opens N connections to
127.0.0.1:PORT one after another, sends one keep-alive GET on each and reads its whole response,
keeps them all open and idle, waits a second for the server to settle, and reads VmRSS again.
Prints `key value` lines:

    conns N              connections that got their response and are held open
    rss_before_kib X     server VmRSS before the first connection
    rss_after_kib Y      server VmRSS with the N connections idle
    rss_per_conn_bytes Z (Y - X) * 1024 / N

Needs an fd limit above N (the caller raises ulimit -n). Stops at the first connection that
fails (and says why on stderr); the figure is then over the connections that did succeed.
"""

import socket
import sys
import time

REQUEST = b"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def vmrss_kib(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def one_request(sock):
    sock.sendall(REQUEST)
    buf = b""
    while True:
        data = sock.recv(4096)
        if not data:
            raise ConnectionError("closed before the whole response")
        buf += data
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            continue
        length = 0
        for line in buf[:end].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        if len(buf) >= end + 4 + length:
            if not buf.startswith(b"HTTP/1.1 200"):
                raise ConnectionError("status line " + buf.split(b"\r\n", 1)[0].decode())
            return


def main():
    if len(sys.argv) != 4:
        print("usage: idle_conns.py PORT N SERVER_PID[,PID...]", file=sys.stderr)
        sys.exit(2)
    port, n = int(sys.argv[1]), int(sys.argv[2])
    pids = [int(p) for p in sys.argv[3].split(",") if p]
    time.sleep(0.5)
    before = vmrss_kib(pids)
    socks = []
    t0 = time.monotonic()
    for i in range(n):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            one_request(s)
        except OSError as e:
            print(f"idle_conns: connection {i + 1} failed: {e}", file=sys.stderr)
            break
        socks.append(s)
    elapsed = time.monotonic() - t0
    time.sleep(1.0)
    after = vmrss_kib(pids)
    k = len(socks)
    print("conns", k)
    print("connect_seconds", f"{elapsed:.2f}")
    print("rss_before_kib", before)
    print("rss_after_kib", after)
    if k:
        print("rss_per_conn_bytes", round((after - before) * 1024 / k))
    for s in socks:
        s.close()
    sys.exit(0 if k == n else 1)


if __name__ == "__main__":
    main()
