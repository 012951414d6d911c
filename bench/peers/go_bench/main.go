// Go peer for bench/run.sh: the same measurements as gev's bench/micro.cpp and bench/memory.cpp,
// printed as `key value` lines. Run with GOMAXPROCS=1, pinned to one core:
//
//	GOMAXPROCS=1 taskset -c 0 ./go_bench [-quick]
//	GOMAXPROCS=1 taskset -c 0 ./go_bench -parked 1000000   # only the parked-memory figures
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

var quick = flag.Bool("quick", false, "fewer iterations")
var parkedOnly = flag.Int("parked", 0, "only park this many goroutines and report memory")

func emit(key string, value float64, prec int) {
	fmt.Printf("%s %s\n", key, strconv.FormatFloat(value, 'f', prec, 64))
}

// statusKiB returns a field of /proc/self/status in KiB ("VmRSS"), or -1.
func statusKiB(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, field+":") {
			parts := strings.Fields(line[len(field)+1:])
			if len(parts) > 0 {
				v, _ := strconv.ParseInt(parts[0], 10, 64)
				return v
			}
		}
	}
	return -1
}

// warmThenTime calls fn once untimed, then once timed; fn returns seconds per op.
func warmThenTime(fn func() float64) float64 {
	fn()
	return fn()
}

func pick(full, small int) int {
	if *quick {
		return small
	}
	return full
}

// Two goroutines ping-pong with runtime.Gosched; seconds per yield.
func benchYield() float64 {
	n := pick(2_000_000, 200_000)
	return warmThenTime(func() float64 {
		var wg sync.WaitGroup
		wg.Add(2)
		pinger := func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				runtime.Gosched()
			}
		}
		t0 := time.Now()
		go pinger()
		go pinger()
		wg.Wait()
		return time.Since(t0).Seconds() / float64(2*n)
	})
}

// go func + WaitGroup join, one at a time; seconds per op.
func benchSpawnJoin() float64 {
	n := pick(1_000_000, 100_000)
	return warmThenTime(func() float64 {
		var wg sync.WaitGroup
		t0 := time.Now()
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() { wg.Done() }()
			wg.Wait()
		}
		return time.Since(t0).Seconds() / float64(n)
	})
}

// 100k goroutines each time.Sleep(10ms): total wall seconds incl. spawn and join.
func benchSleep100k() float64 {
	const n = 100_000
	round := func() float64 {
		var wg sync.WaitGroup
		t0 := time.Now()
		wg.Add(n)
		for i := 0; i < n; i++ {
			go func() {
				time.Sleep(10 * time.Millisecond)
				wg.Done()
			}()
		}
		wg.Wait()
		return time.Since(t0).Seconds()
	}
	round() // warm-up, like gev's and gevent's
	rounds := pick(3, 1)
	total := 0.0
	for r := 0; r < rounds; r++ {
		total += round()
	}
	return total / float64(rounds)
}

// A timeout armed and cancelled: time.NewTimer + Stop; seconds per op.
func benchTimeoutArmCancel() float64 {
	n := pick(2_000_000, 200_000)
	return warmThenTime(func() float64 {
		t0 := time.Now()
		for i := 0; i < n; i++ {
			t := time.NewTimer(time.Second)
			t.Stop()
		}
		return time.Since(t0).Seconds() / float64(n)
	})
}

// 100k goroutines parked on one channel; close() wakes them all (Go's Event.set). Seconds per
// waiter from close until every waiter has woken and exited.
func benchWake100k() float64 {
	const n = 100_000
	round := func() float64 {
		gate := make(chan struct{})
		var parked, done sync.WaitGroup
		parked.Add(n)
		done.Add(n)
		for i := 0; i < n; i++ {
			go func() {
				parked.Done()
				<-gate
				done.Done()
			}()
		}
		parked.Wait()
		runtime.Gosched() // let the last ones reach <-gate
		t0 := time.Now()
		close(gate)
		done.Wait()
		return time.Since(t0).Seconds() / n
	}
	round()
	rounds := pick(3, 1)
	total := 0.0
	for r := 0; r < rounds; r++ {
		total += round()
	}
	return total / float64(rounds)
}

// Unbuffered channel ping-pong: seconds per round trip (A sends on c1 and receives on c2; B
// receives on c1 and sends on c2).
func benchQueuePingPong() float64 {
	n := pick(200_000, 20_000)
	round := func() float64 {
		c1, c2 := make(chan int), make(chan int)
		done := make(chan struct{})
		go func() {
			for i := 0; i < n; i++ {
				c2 <- <-c1
			}
			close(done)
		}()
		t0 := time.Now()
		for i := 0; i < n; i++ {
			c1 <- i
			<-c2
		}
		<-done
		return time.Since(t0).Seconds() / float64(n)
	}
	return warmThenTime(round)
}

// 100k trivial tasks through a pool of 1000: a buffered channel as the semaphore plus a
// WaitGroup, Go's idiomatic bounded pool. Seconds in total.
func benchPool100k() float64 {
	const n = 100_000
	round := func() float64 {
		sem := make(chan struct{}, 1000)
		var wg sync.WaitGroup
		t0 := time.Now()
		for i := 0; i < n; i++ {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				<-sem
				wg.Done()
			}()
		}
		wg.Wait()
		return time.Since(t0).Seconds()
	}
	return warmThenTime(round)
}

// RSS per goroutine parked in a 24 h sleep (a timer + select, so it can be released), and the
// time to start them and to release them all.
func benchRSSParked(n int) (kib, spawnS, releaseS float64) {
	runtime.GC()
	quit := make(chan struct{})
	var parked, done sync.WaitGroup
	parked.Add(n)
	done.Add(n)
	rss0 := statusKiB("VmRSS")
	t0 := time.Now()
	for i := 0; i < n; i++ {
		go func() {
			t := time.NewTimer(24 * time.Hour)
			parked.Done()
			select {
			case <-t.C:
			case <-quit:
			}
			t.Stop()
			done.Done()
		}()
	}
	parked.Wait()
	runtime.Gosched()
	spawnS = time.Since(t0).Seconds()
	rss1 := statusKiB("VmRSS")
	t1 := time.Now()
	close(quit)
	done.Wait()
	releaseS = time.Since(t1).Seconds()
	return float64(rss1-rss0) / float64(n), spawnS, releaseS
}

// benchSocketPingPong: two goroutines bounce one byte over a Unix socketpair wrapped in
// net.Conn (the netpoller parks a goroutine on EAGAIN, as gev::monkey parks a greenlet).
func benchSocketPingPong() float64 {
	n := 20_000
	if *quick {
		n = 5_000
	}
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		return -1
	}
	fa, fb := os.NewFile(uintptr(fds[0]), "a"), os.NewFile(uintptr(fds[1]), "b")
	a, errA := net.FileConn(fa)
	b, errB := net.FileConn(fb)
	fa.Close()
	fb.Close()
	if errA != nil || errB != nil {
		return -1
	}
	defer a.Close()
	defer b.Close()
	once := func() float64 {
		var wg sync.WaitGroup
		wg.Add(1)
		t0 := time.Now()
		go func() {
			defer wg.Done()
			buf := make([]byte, 1)
			for i := 0; i < n; i++ {
				if _, err := b.Read(buf); err != nil {
					return
				}
				b.Write(buf)
			}
		}()
		buf := []byte{'x'}
		for i := 0; i < n; i++ {
			a.Write(buf)
			if _, err := a.Read(buf); err != nil {
				break
			}
		}
		wg.Wait()
		return time.Since(t0).Seconds() / float64(n)
	}
	once()
	return once()
}

func main() {
	flag.Parse()
	fmt.Printf("peer %s-GOMAXPROCS=%d\n", runtime.Version(), runtime.GOMAXPROCS(0))
	if *parkedOnly > 0 {
		kib, spawnS, releaseS := benchRSSParked(*parkedOnly)
		emit("greenlets", float64(*parkedOnly), 0)
		emit("rss_per_parked_kib", kib, 3)
		emit("spawn_park_s", spawnS, 3)
		emit("kill_unwind_s", releaseS, 3)
		emit("rss_peak_kib", float64(statusKiB("VmHWM")), 0)
		fmt.Println("result ok")
		return
	}
	kib, spawnS, releaseS := benchRSSParked(100_000)
	emit("rss_per_parked_kib", kib, 3)
	emit("spawn_park_100k_s", spawnS, 3)
	emit("kill_unwind_100k_s", releaseS, 3)
	emit("yield_ns", benchYield()*1e9, 1)
	emit("spawn_join_ns", benchSpawnJoin()*1e9, 1)
	emit("sleep_100k_s", benchSleep100k(), 4)
	emit("timeout_arm_cancel_ns", benchTimeoutArmCancel()*1e9, 1)
	emit("wake_100k_ns_per_waiter", benchWake100k()*1e9, 1)
	emit("queue_pingpong_ns", benchQueuePingPong()*1e9, 1)
	emit("pool_100k_s", benchPool100k(), 4)
	emit("socket_pingpong_ns", benchSocketPingPong()*1e9, 1)
}
