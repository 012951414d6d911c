// Go peer for bench/http.sh: a net/http server on ADDR answering every request with 200,
// Content-Type text/plain and the 13-byte body "Hello, World!" (the TechEmpower plaintext test).
//
//	gevhttp -addr=127.0.0.1:PORT
//
// Run it with GOMAXPROCS=1 for a like-for-like comparison with the single-threaded servers.
// Keep-alive is net/http's (no per-connection request limit); nothing is logged per request.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
)

var hello = []byte("Hello, World!")

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(1)
	}
	fmt.Println("listening", ln.Addr())
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/plain")
		h.Set("Server", "go")
		w.Write(hello)
	})
	srv := &http.Server{Handler: handler}
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "serve:", err)
		os.Exit(1)
	}
}
