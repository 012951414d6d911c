// Go peer for bench/echo.sh: a TCP echo server and the load generator that drives every server.
//
//	gevecho -mode=server -addr=127.0.0.1:PORT
//	gevecho -mode=client -addr=127.0.0.1:PORT -conns=1000 -size=64 -seconds=5 -pattern=pingpong
//	gevecho -mode=client -addr=127.0.0.1:PORT -conns=1000 -size=512 -seconds=5 -pattern=stream
//
// Server: one goroutine per connection, reading up to 64 KiB and writing it back (run it with
// GOMAXPROCS=1 for a like-for-like comparison with the single-threaded gev and gevent servers).
//
// Client, pingpong: each of the N connections sends `size` bytes, waits for the full echo and
// repeats; every round trip's latency is recorded. Client, stream: each connection has a writer
// goroutine sending `size`-byte messages back to back (at most -window messages ahead of the
// echo) and a reader goroutine counting the echoed bytes. Both patterns connect everything first, run a short warm-up (-warmup), then measure for
// -seconds and print `key value` lines:
//
//	msgs_per_s X     round trips (pingpong) or echoed messages (stream) per second
//	p99_us Y         99th percentile round-trip latency (pingpong only); also p50_us, max_us
//	client_cpu_pct   this client's CPU use over the window (% of one core); server_cpu_pct too
//	                 with -server-pid (100 = that side was the bottleneck)
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func serve(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(1)
	}
	fmt.Println("listening", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			// EMFILE and the like: back off briefly instead of spinning.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go func(c net.Conn) {
			defer c.Close()
			buf := make([]byte, 64*1024)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					if _, werr := c.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}(c)
	}
}

func dialAll(addr string, n int) []net.Conn {
	conns := make([]net.Conn, 0, n)
	for i := 0; i < n; i++ {
		var c net.Conn
		var err error
		for attempt := 0; attempt < 50; attempt++ {
			c, err = net.DialTimeout("tcp", addr, 5*time.Second)
			if err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "connect %d/%d: %v\n", i+1, n, err)
			os.Exit(1)
		}
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
		}
		conns = append(conns, c)
	}
	return conns
}

// phase: 0 warm-up, 1 measuring, 2 done.
var phase int32

// serverPid (-server-pid): whose CPU use to report next to our own over the measured window.
var serverPid int

// procCPU is a process's user+system CPU time from /proc/PID/stat (0 when unreadable).
func procCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which is in parentheses and may hold spaces).
	s := string(data)
	if k := strings.LastIndexByte(s, ')'); k >= 0 {
		s = s[k+1:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ is 100 on Linux
}

func runPhases(warmup, measure time.Duration) time.Duration {
	time.Sleep(warmup)
	t0 := time.Now()
	self0 := procCPU(os.Getpid())
	var srv0 time.Duration
	if serverPid > 0 {
		srv0 = procCPU(serverPid)
	}
	atomic.StoreInt32(&phase, 1)
	time.Sleep(measure)
	atomic.StoreInt32(&phase, 2)
	elapsed := time.Since(t0)
	// CPU use over the window, in percent of one core: tells which side was saturated.
	fmt.Printf("client_cpu_pct %.0f\n", 100*(procCPU(os.Getpid())-self0).Seconds()/elapsed.Seconds())
	if serverPid > 0 {
		fmt.Printf("server_cpu_pct %.0f\n", 100*(procCPU(serverPid)-srv0).Seconds()/elapsed.Seconds())
	}
	return elapsed
}

func pingpong(conns []net.Conn, size int, warmup, measure time.Duration) {
	var wg sync.WaitGroup
	lats := make([][]time.Duration, len(conns))
	errs := int64(0)
	for i, c := range conns {
		wg.Add(1)
		go func(i int, c net.Conn) {
			defer wg.Done()
			out := make([]byte, size)
			in := make([]byte, size)
			for j := range out {
				out[j] = byte('a' + (i+j)%26)
			}
			local := make([]time.Duration, 0, 1024)
			for {
				p := atomic.LoadInt32(&phase)
				if p == 2 {
					break
				}
				t := time.Now()
				if _, err := c.Write(out); err != nil {
					atomic.AddInt64(&errs, 1)
					break
				}
				if _, err := io.ReadFull(c, in); err != nil {
					atomic.AddInt64(&errs, 1)
					break
				}
				d := time.Since(t)
				// Count a round trip only if it started and ended in the measured window.
				if p == 1 && atomic.LoadInt32(&phase) == 1 {
					local = append(local, d)
				}
			}
			lats[i] = local
		}(i, c)
	}
	elapsed := runPhases(warmup, measure)
	wg.Wait()
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	fmt.Printf("msgs_per_s %.0f\n", float64(len(all))/elapsed.Seconds())
	if len(all) > 0 {
		pct := func(q float64) float64 {
			k := int(q * float64(len(all)-1))
			return float64(all[k].Nanoseconds()) / 1e3
		}
		fmt.Printf("p50_us %.0f\n", pct(0.50))
		fmt.Printf("p99_us %.0f\n", pct(0.99))
		fmt.Printf("max_us %.0f\n", float64(all[len(all)-1].Nanoseconds())/1e3)
	}
	fmt.Printf("round_trips %d\n", len(all))
	fmt.Printf("errors %d\n", errs)
}

func stream(conns []net.Conn, size, window int, warmup, measure time.Duration) {
	// Flow control: a writer stays at most `window` messages ahead of its reader (credits in a
	// buffered channel). Without it, 1000 writers filling multi-megabyte socket buffers starve
	// the readers on a single-P client and the measurement sees mostly queueing.
	var echoed int64 // bytes echoed during the measured window
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(2)
		credits := make(chan struct{}, window)
		for k := 0; k < window; k++ {
			credits <- struct{}{}
		}
		done := make(chan struct{})
		go func(i int, c net.Conn) { // writer
			defer wg.Done()
			out := make([]byte, size)
			for j := range out {
				out[j] = byte('a' + (i+j)%26)
			}
			for atomic.LoadInt32(&phase) != 2 {
				select {
				case <-credits:
				case <-done:
					return
				}
				if _, err := c.Write(out); err != nil {
					return
				}
			}
		}(i, c)
		go func(c net.Conn) { // reader
			defer wg.Done()
			defer close(done)
			buf := make([]byte, 64*1024)
			var local, pending int64
			for {
				n, err := c.Read(buf)
				p := atomic.LoadInt32(&phase)
				if p == 1 {
					local += int64(n)
				}
				if err != nil || p == 2 {
					break
				}
				// Hand back one credit per whole message echoed.
				pending += int64(n)
				for ; pending >= int64(size); pending -= int64(size) {
					credits <- struct{}{}
				}
			}
			atomic.AddInt64(&echoed, local)
		}(c)
	}
	elapsed := runPhases(warmup, measure)
	// Unblock writers parked on full buffers and readers waiting for data.
	for _, c := range conns {
		c.SetDeadline(time.Now())
	}
	wg.Wait()
	fmt.Printf("msgs_per_s %.0f\n", float64(echoed)/float64(size)/elapsed.Seconds())
	fmt.Printf("mbytes_per_s %.1f\n", float64(echoed)/1e6/elapsed.Seconds())
}

func main() {
	mode := flag.String("mode", "server", "server or client")
	addr := flag.String("addr", "127.0.0.1:9000", "address to listen on / connect to")
	nconns := flag.Int("conns", 1000, "client: connections")
	size := flag.Int("size", 64, "client: message size in bytes")
	seconds := flag.Float64("seconds", 5, "client: measured seconds")
	warmup := flag.Float64("warmup", 0.5, "client: warm-up seconds (not measured)")
	pattern := flag.String("pattern", "pingpong", "client: pingpong or stream")
	flag.IntVar(&serverPid, "server-pid", 0, "client: report this process's CPU use too")
	window := flag.Int("window", 64, "client, stream: messages a connection may have in flight")
	flag.Parse()
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	switch *mode {
	case "server":
		serve(*addr)
	case "client":
		conns := dialAll(*addr, *nconns)
		w := time.Duration(*warmup * float64(time.Second))
		m := time.Duration(*seconds * float64(time.Second))
		switch *pattern {
		case "pingpong":
			// Deadlines unblock round trips stuck at the end (a dead server).
			for _, c := range conns {
				c.SetDeadline(time.Now().Add(w + m + 10*time.Second))
			}
			pingpong(conns, *size, w, m)
		case "stream":
			stream(conns, *size, *window, w, m)
		default:
			fmt.Fprintln(os.Stderr, "unknown -pattern", *pattern)
			os.Exit(2)
		}
		for _, c := range conns {
			c.Close()
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown -mode", *mode)
		os.Exit(2)
	}
}
