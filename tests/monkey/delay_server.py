#!/usr/bin/env python3
"""A slow local HTTP(S) server for the libcurl tests.

Listens on 127.0.0.1 (port 0 unless --port: the kernel picks one), prints the port on the first
line of stdout, then answers every GET after --delay seconds with a known body:

    gev delay_server: <path>

One thread per connection, so N concurrent clients all get their answers after about one delay.
--cert/--key serve HTTPS (the TLS handshake runs in the connection's thread). --log prints
"GET <path>" on stdout as each request arrives. The server exits when its stdin reaches end of
file (its parent went away; when stdin is a pipe) or after --lifetime seconds, so it never outlives a test.
"""

import argparse
import http.server
import os
import ssl
import stat
import sys
import threading
import time


def body_for(path):
    return ("gev delay_server: %s\n" % path).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection, then close

    def do_GET(self):
        if self.server.log:
            print("GET %s" % self.path, flush=True)
        time.sleep(self.server.delay)
        body = body_for(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # no access log on stderr
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # 50 clients connect at once; the default backlog is 5

    def handle_error(self, request, client_address):
        # A client that gave up (a timeout test) or refused our certificate: one line, no
        # traceback (nobody may be reading the pipe while the test runs).
        print("error: %s" % (sys.exc_info()[1],), file=sys.stderr, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.2, help="seconds before each answer")
    parser.add_argument("--cert", help="PEM certificate: serve HTTPS")
    parser.add_argument("--key", help="PEM private key of --cert")
    parser.add_argument("--log", action="store_true", help='print "GET <path>" per request')
    parser.add_argument("--lifetime", type=float, default=300, help="exit after this long")
    args = parser.parse_args()

    server = Server(("127.0.0.1", args.port), Handler)
    server.delay = args.delay
    server.log = args.log
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
        # The handshake happens on the first read, in the connection's own thread.
        server.socket = context.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )

    def exit_when_orphaned():
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            return
        os._exit(0)

    # Only a pipe says anything about the parent (a terminal or /dev/null does not).
    if stat.S_ISFIFO(os.fstat(0).st_mode):
        threading.Thread(target=exit_when_orphaned, daemon=True).start()
    timer = threading.Timer(args.lifetime, lambda: os._exit(0))
    timer.daemon = True
    timer.start()

    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
