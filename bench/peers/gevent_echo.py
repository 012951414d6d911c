"""gevent peer for bench/echo.sh: a gevent.server.StreamServer echo server on 127.0.0.1:PORT.

    python3 gevent_echo.py PORT

One greenlet per connection, echoing whatever it reads (recv up to 64 KiB, sendall). Runs until
killed.
"""

import sys

from gevent.server import StreamServer


def handle(sock, _address):
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            sock.sendall(data)
    except OSError:
        pass  # the load generator closing mid-stream is normal at the end
    finally:
        sock.close()


def main():
    if len(sys.argv) != 2:
        print("usage: gevent_echo.py PORT", file=sys.stderr)
        sys.exit(2)
    server = StreamServer(("127.0.0.1", int(sys.argv[1])), handle, backlog=4096)
    server.max_accept = 100
    server.init_socket()
    print("listening", server.address, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
