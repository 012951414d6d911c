"""gevent peer for bench/http.sh: a gevent.pywsgi.WSGIServer on 127.0.0.1:PORT answering every
request with 200, Content-Type text/plain and the 13-byte body "Hello, World!".

    python3 gevent_http.py PORT

Keep-alive is pywsgi's (HTTP/1.1 connections stay open); no access log (log=None). Runs until
killed.

TCP_NODELAY is set on every connection, as Go, nginx and gev do by default: pywsgi sends the
header block and the body in two send() calls, and with Nagle's algorithm on, the body waits for
the client's delayed ACK (~40 ms), so that at 50 keep-alive connections gevent would serve about
1,100 requests/s whatever its speed.
"""

import socket
import sys

from gevent.pywsgi import WSGIServer

BODY = b"Hello, World!"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def app(_environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]


class NoDelayWSGIServer(WSGIServer):
    def handle(self, sock, address):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().handle(sock, address)


def main():
    if len(sys.argv) != 2:
        print("usage: gevent_http.py PORT", file=sys.stderr)
        sys.exit(2)
    server = NoDelayWSGIServer(("127.0.0.1", int(sys.argv[1])), app, log=None, backlog=4096)
    server.max_accept = 100
    server.init_socket()
    print("listening", server.address, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
