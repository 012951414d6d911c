#!/usr/bin/env bash
# HTTP plaintext benchmark (issue 6): gev's http::Server (bench/gev_http_server), nginx 1.22,
# Go net/http and gevent pywsgi, each answering every request with 200 text/plain
# "Hello, World!" (13 bytes), driven by wrk in the same run, and the tables
#   load | gev req/s (p99) | nginx | Go | gevent | gev/nginx | gev/Go | gev/gevent
#   load | gev workers=2 | gev 2 processes | nginx 2 workers | ratios to nginx
#   idle keep-alive connections: server RSS before/after and per connection
#
#   bench/http.sh BUILD_DIR       (BUILD_DIR holds bench/gev_http_server)
#
# Loads (each after a 1 s warm-up with the same connections, then GEV_HTTP_SECONDS measured;
# wrk -t1 --latency --timeout 10s, keep-alive throughout):
#   plain c=50      GET /plaintext over 50 connections
#   plain c=1000    the same over 1000 connections
#   pipeline c=256  16 requests pipelined per connection (bench/peers/pipeline.lua); wrk counts
#                   every response in req/s, but its latency is per batch of 16, and its
#                   coordinated-omission correction (which assumes one response per round trip)
#                   adds synthetic samples: take that p99 as indicative
# p99 is wrk's (--latency). wrk 4.1 sometimes prints 0.00us for it (wg/wrk#354: the correction's
# samples fall below the minimum its percentile walk starts from); bench/peers/latency.lua (run
# with every load) then gives the 99th percentile of the samples the walk does see, shown "p99*".
#
# One worker: each server runs single-threaded pinned to one core (GEV_HTTP_SERVER_CPU, default
# 0): gev with one hub; nginx with worker_processes 1 (a master and one worker, both on that
# core); Go with GOMAXPROCS=1; gevent pywsgi. wrk runs pinned to another core
# (GEV_HTTP_CLIENT_CPU, default 1).
#
# Two workers (the issue's "workers = 2" against nginx with 2 workers): the servers and wrk all
# share cores SERVER_CPU,CLIENT_CPU (so on a 2-core machine wrk competes with the servers:
# compare the columns with each other, not with the one-worker table). Three gev/nginx set-ups:
#   gev workers=2    one process, ServerOptions::workers = 2 (two hubs on two threads, each with
#                    its own SO_REUSEPORT listening socket on the port)
#   gev 2 processes  two single-hub gev_http_server processes, both bound with SO_REUSEPORT
#                    (ServerOptions::reuse_port; the kernel spreads connections), as one would run
#                    it without the workers option
#   nginx 2 workers  worker_processes 2, `listen ... reuseport` (one socket per worker, as gev)
#   Go               GOMAXPROCS=2 (the Go runtime spreads goroutines over two threads)
#
# Idle keep-alive: bench/peers/idle_conns.py opens GEV_HTTP_IDLE_CONNS (10,000) connections to
# each server (one-worker set-up), sends one request on each, keeps them open, and reports the
# server's VmRSS (/proc/PID/status; nginx: master + worker) before and after: bytes per idle
# connection. The fd limit must exceed that count (the script raises ulimit -n as far as the hard
# limit allows and lowers the count, saying so, when it does not fit).
#
# The servers: nginx runs from a generated config in a temporary directory (access_log off,
# error_log to BUILD_DIR/http-out/nginx-error-N.log, keepalive_requests 1000000,
# `return 200 "Hello, World!"` with default_type text/plain; user = the current user); gev with
# no access log, Server: gev and 1,000,000 requests per connection so that wrk's keep-alive is
# never cut; gevent with TCP_NODELAY on its connections, as the others have (without it pywsgi's
# two send() calls per response wait out wrk's delayed ACK: ~1,100 req/s at c=50). A server that
# is missing or fails shows as "n/a".
#
# All the servers of a set-up run at once (idle but for the one under load) and the runs
# interleave (each load against each server in turn), so that load from elsewhere on the machine
# does not hit one column only. Under each row, the CPU use over the measured run (% of one core):
# the server's (all its processes and threads), wrk's, and every other process's on the machine
# (from /proc/stat; well above 0 means the run shared its cores and its figures are noise). The
# side near 100% per core is the bottleneck. Non-2xx responses and socket errors wrk reports are
# listed under the table. Raw wrk outputs go to BUILD_DIR/http-out/.
#
# Environment:
#   GEV_HTTP_SECONDS=5       measured seconds per run (plus a 1 s warm-up, GEV_HTTP_WARMUP)
#   GEV_HTTP_PORT=19400      first port (each server gets its own: PORT .. PORT+6)
#   GEV_HTTP_SERVER_CPU=0  GEV_HTTP_CLIENT_CPU=1   cores ("" = no pinning)
#   GEV_HTTP_WORKERS=1       0 skips the two-worker runs
#   GEV_HTTP_IDLE_CONNS=10000   0 skips the idle keep-alive measure
#   GEVENT_PYTHON=/usr/bin/python3   GEV_BENCH_GO=PATH (the go command)
#   GEV_HTTP_NGINX=nginx   GEV_HTTP_WRK=wrk
set -uo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
BUILD=$(cd "$1" 2>/dev/null && pwd) || { echo "http.sh: no build directory $1" >&2; exit 2; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SECONDS_PER_RUN=${GEV_HTTP_SECONDS:-5}
WARMUP=${GEV_HTTP_WARMUP:-1}
PORT0=${GEV_HTTP_PORT:-19400}
SCPU=${GEV_HTTP_SERVER_CPU-0}
CCPU=${GEV_HTTP_CLIENT_CPU-1}
WORKERS=${GEV_HTTP_WORKERS:-1}
IDLE_CONNS=${GEV_HTTP_IDLE_CONNS:-10000}
GEVENT_PYTHON=${GEVENT_PYTHON:-/usr/bin/python3}
NGINX=${GEV_HTTP_NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
WRK=${GEV_HTTP_WRK:-$(command -v wrk || true)}
PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3)
GEV_SERVER=$BUILD/bench/gev_http_server
OUT=$BUILD/http-out
GO_BIN=$BUILD/go_http
status=0

log() { echo "http.sh: $*" >&2; }

rm -rf "$OUT"
mkdir -p "$OUT"
NGINX_DIR=$(mktemp -d "${TMPDIR:-/tmp}/gev-http-nginx.XXXXXX")

if [[ -z $WRK || ! -x $WRK ]]; then
  log "wrk not found (scripts/install-deps.sh bench, or apt-get install wrk): nothing to run"
  exit 2
fi

# 1000 client sockets in wrk, as many in the server; IDLE_CONNS in the idle client and the server
# (separate processes, so the limit applies to each).
want_fds=$((IDLE_CONNS > 1000 ? IDLE_CONNS + 512 : 1512))
if (($(ulimit -n) < want_fds)); then
  ulimit -n "$want_fds" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
fi
if (($(ulimit -n) < 1100)); then
  log "fd limit $(ulimit -n) is too low for 1000 connections"
  exit 2
fi
IDLE_NOTE=
if ((IDLE_CONNS > 0 && $(ulimit -n) < IDLE_CONNS + 512)); then
  IDLE_NOTE="(lowered from $IDLE_CONNS: fd limit $(ulimit -n))"
  IDLE_CONNS=$(($(ulimit -n) - 512))
  log "idle keep-alive: $IDLE_CONNS connections $IDLE_NOTE"
fi

pin_prefix() {  # pin_prefix CPUS -> "taskset -c CPUS" when CPUS is set and usable
  if [[ -n $1 ]] && command -v taskset >/dev/null && taskset -c "$1" true 2>/dev/null; then
    echo "taskset -c $1"
  fi
}
read -r -a PIN_SERVER <<<"$(pin_prefix "$SCPU")"
read -r -a PIN_CLIENT <<<"$(pin_prefix "$CCPU")"
BOTH_CPUS=$SCPU
[[ -n $SCPU && -n $CCPU ]] && BOTH_CPUS="$SCPU,$CCPU"
[[ -z $SCPU || -z $CCPU ]] && BOTH_CPUS=
read -r -a PIN_BOTH <<<"$(pin_prefix "$BOTH_CPUS")"
PIN=("${PIN_SERVER[@]}")  # the servers' pinning for the current set-up
WRK_PIN=("${PIN_CLIENT[@]}")

# ---- the Go peer ---------------------------------------------------------------------------------
HAVE_GO=0
if [[ -v GEV_BENCH_GO ]]; then
  GO=$GEV_BENCH_GO
else
  GO=$(command -v go || true)
  [[ -z $GO && -x /usr/lib/go/bin/go ]] && GO=/usr/lib/go/bin/go
fi
if [[ -n $GO && -x $GO ]]; then
  log "building the Go peer with $($GO version 2>/dev/null)"
  if (cd "$HERE/peers/go_http" &&
      GOCACHE=$BUILD/go-cache GOPATH=$BUILD/go-path GOFLAGS='' GOPROXY=off GO111MODULE=on \
        CGO_ENABLED=0 timeout 300 "$GO" build -o "$GO_BIN" .) >"$OUT/go-build.log" 2>&1; then
    HAVE_GO=1
  else
    log "Go peer did not build (see $OUT/go-build.log): Go column n/a"
    status=1
  fi
else
  log "go not found (apt-get install golang-go): Go column n/a"
fi

HAVE_GEVENT=0
if [[ -x $GEVENT_PYTHON ]] && "$GEVENT_PYTHON" -c 'import gevent' 2>/dev/null; then
  HAVE_GEVENT=1
else
  log "gevent not available to $GEVENT_PYTHON (apt-get install python3-gevent): gevent column n/a"
fi

# ---- nginx ---------------------------------------------------------------------------------------
HAVE_NGINX=0
nginx_conf() {  # nginx_conf WORKERS PORT -> path of a config in NGINX_DIR
  local workers=$1 port=$2 conf=$NGINX_DIR/nginx-$1.conf reuse=
  ((workers > 1)) && reuse=" reuseport"
  {
    # As root the workers would switch to "nobody"; keep them the current user.
    [[ $(id -u) -eq 0 ]] && echo "user $(id -un) $(id -gn);"
    cat <<EOF
worker_processes $workers;
worker_rlimit_nofile $(ulimit -n);
daemon off;
master_process on;
pid $NGINX_DIR/nginx-$workers.pid;
error_log $OUT/nginx-error-$workers.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path $NGINX_DIR/body;
  proxy_temp_path $NGINX_DIR/proxy;
  fastcgi_temp_path $NGINX_DIR/fastcgi;
  uwsgi_temp_path $NGINX_DIR/uwsgi;
  scgi_temp_path $NGINX_DIR/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  server {
    listen 127.0.0.1:$port$reuse;
    location / { default_type text/plain; return 200 "Hello, World!"; }
  }
}
EOF
  } >"$conf"
  echo "$conf"
}
if [[ -x $NGINX ]]; then
  conf=$(nginx_conf 1 "$PORT0")
  if timeout 30 "$NGINX" -t -q -p "$NGINX_DIR" -e "$OUT/nginx-error-1.log" -c "$conf" \
      >"$OUT/nginx-t.log" 2>&1; then
    HAVE_NGINX=1
  else
    log "nginx -t failed (see $OUT/nginx-t.log): nginx column n/a"
    status=1
  fi
else
  log "nginx not found (scripts/install-deps.sh bench, or apt-get install nginx-light):" \
      "nginx column n/a"
fi

# ---- servers -------------------------------------------------------------------------------------
declare -A SPIDS=()  # server name -> the processes started for it (space-separated)
declare -A SPORT=()  # server name -> its port
RUNNING=()           # the servers of the current set-up, in the order of the table
server_pids() {  # server_pids NAME: its processes and their children (nginx's workers)
  local p
  for p in ${SPIDS[$1]:-}; do
    echo "$p"
    pgrep -P "$p" 2>/dev/null
  done
}
stop_server() {  # stop_server NAME
  [[ -n ${SPIDS[$1]:-} ]] || return 0
  local pids p alive
  mapfile -t pids < <(server_pids "$1")
  for p in ${SPIDS[$1]}; do kill "$p" 2>/dev/null; done
  for _ in $(seq 50); do
    alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  for p in ${SPIDS[$1]}; do wait "$p" 2>/dev/null; done
  unset "SPIDS[$1]"
  local keep=() n
  for n in "${RUNNING[@]}"; do [[ $n == "$1" ]] || keep+=("$n"); done
  RUNNING=("${keep[@]}")
}
stop_all() {
  local names=("${!SPIDS[@]}") n
  for n in "${names[@]}"; do stop_server "$n"; done
  RUNNING=()
}
cleanup() {
  stop_all
  rm -rf "$NGINX_DIR"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_server NAME PORT CMD... : starts it with the current pinning (PIN) and waits until it
# accepts connections. Again with the same NAME: one more process on the same port (SO_REUSEPORT),
# waited for by its "listening" line.
start_server() {
  local name=$1 port=$2 n log
  shift 2
  n=$(wc -w <<<"${SPIDS[$name]:-}")
  log=$OUT/$name.server.log
  ((n)) && log=$OUT/$name.server$((n + 1)).log
  if ((!n)) && port_open "$port"; then
    log "$name: something already listens on 127.0.0.1:$port (set GEV_HTTP_PORT)"
    return 1
  fi
  # taskset execs the server, so $! is the server itself (for kill and its CPU use).
  "${PIN[@]}" "$@" >"$log" 2>&1 &
  local pid=$!
  SPIDS[$name]="${SPIDS[$name]:-} $pid"
  for _ in $(seq 100); do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "$name server exited at start (see $log)"
      stop_server "$name"
      return 1
    fi
    if ((n)); then
      grep -q listening "$log" 2>/dev/null && return 0
    elif port_open "$port"; then
      SPORT[$name]=$port
      RUNNING+=("$name")
      return 0
    fi
    sleep 0.1
  done
  log "$name server did not come up on port $port (see $log)"
  stop_server "$name"
  return 1
}

cpu_ticks() {  # cpu_ticks NAME: user+system clock ticks (1/100 s), all its processes and threads
  local p s f total=0
  for p in $(server_pids "$1"); do
    s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    s=${s##*) }
    read -r -a f <<<"$s"
    total=$((total + f[11] + f[12]))
  done
  echo "$total"
}
machine_ticks() {  # user+nice+system clock ticks of the whole machine (every process)
  awk '$1 == "cpu" { print $2 + $3 + $4; exit }' /proc/stat
}
now_ns() { date +%s%N; }

# wrk_load NAME LOAD CONNS: the warm-up, then the measured run; writes NAME.LOAD.CONNS.wrk (wrk's
# output) and NAME.LOAD.CONNS.txt (key value lines).
LOADS=("plain 50" "plain 1000" "pipeline 256")
wrk_load() {
  local name=$1 load=$2 conns=$3 port=${SPORT[$1]} script=(-s "$HERE/peers/latency.lua") tail=()
  local url="http://127.0.0.1:$port/plaintext" run=$2.$3
  if [[ $load == pipeline ]]; then
    script=(-s "$HERE/peers/pipeline.lua")
    tail=(-- 16)
  fi
  log "$name: $load c=$conns, ${WARMUP}s warm-up + ${SECONDS_PER_RUN}s"
  "${WRK_PIN[@]}" timeout $((WARMUP + 60)) "$WRK" -t1 -c"$conns" -d"${WARMUP}s" --timeout 10s \
    "${script[@]}" "$url" "${tail[@]}" >"$OUT/$name.$run.warmup" 2>&1
  local c0 c1 m0 m1 t0 t1 times
  c0=$(cpu_ticks "$name")
  m0=$(machine_ticks)
  t0=$(now_ns)
  times=$( { TIMEFORMAT='%U %S %R'; time "${WRK_PIN[@]}" timeout $((SECONDS_PER_RUN + 60)) "$WRK" \
    -t1 -c"$conns" -d"${SECONDS_PER_RUN}s" --timeout 10s --latency "${script[@]}" "$url" \
    "${tail[@]}" >"$OUT/$name.$run.wrk" 2>&1; } 2>&1 )
  local rc=$?
  t1=$(now_ns)
  m1=$(machine_ticks)
  c1=$(cpu_ticks "$name")
  if [[ $rc -ne 0 ]] || ! grep -q '^Requests/sec' "$OUT/$name.$run.wrk"; then
    log "$name $run: wrk failed (see $OUT/$name.$run.wrk)"
    status=1
    return
  fi
  awk -v c0="$c0" -v c1="$c1" -v m0="$m0" -v m1="$m1" -v t0="$t0" -v t1="$t1" -v times="$times" '
    function us(v) {
      if (v ~ /us$/) return v + 0
      if (v ~ /ms$/) return v * 1000
      if (v ~ /m$/) return v * 60e6
      return v * 1e6
    }
    /^Requests\/sec:/ { printf "req_per_s %d\n", $2 + 0.5 }
    # p99: from wrk, or when wrk 4.1 got it wrong (0.00us, wg/wrk#354) the p99 of the samples its
    # percentile walk sees (bench/peers/latency.lua).
    /^p99_wrk_us / { wrk99 = $2 }
    /^p99_seen_us / { seen99 = $2 }
    /^ +99%/ { line99 = us($2) }
    /^ +50%/ { printf "p50_us %d\n", us($2) + 0.5 }
    / requests in / { printf "requests %d\n", $1 }
    /Non-2xx or 3xx responses:/ { printf "non2xx %d\n", $NF }
    /Socket errors:/ {
      gsub(",", "")
      printf "socket_errors connect %d read %d write %d timeout %d\n", $4, $6, $8, $10
    }
    END {
      if (wrk99 == "" && line99 > 0) wrk99 = line99 + 0.5
      if (wrk99 > 0) printf "p99_us %d\n", wrk99
      else if (seen99 > 0) printf "p99_us %d\np99_seen 1\n", seen99
      wall = (t1 - t0) / 1e9
      if (wall > 0) {
        srv = (c1 - c0) / 100
        split(times, t, " ")
        cli = t[1] + t[2]
        other = (m1 - m0) / 100 - srv - cli
        if (other < 0) other = 0
        printf "server_cpu_pct %d\n", srv / wall * 100 + 0.5
        printf "client_cpu_pct %d\n", cli / wall * 100 + 0.5
        printf "other_cpu_pct %d\n", other / wall * 100 + 0.5
      }
    }' "$OUT/$name.$run.wrk" >"$OUT/$name.$run.txt"
}

# run_setup: every load against every server started (RUNNING), interleaved (for each load, each
# server in turn, so that a burst of load from elsewhere does not hit one server only); then
# stops them.
run_setup() {
  local l load conns name
  for l in "${LOADS[@]}"; do
    read -r load conns <<<"$l"
    for name in "${RUNNING[@]}"; do
      wrk_load "$name" "$load" "$conns"
      sleep 0.5  # let the server close the run's connections
    done
  done
  stop_all
}

# idle_measure NAME PORT CMD... : RSS per idle keep-alive connection, on a fresh server.
idle_measure() {
  local name=$1 port=$2
  shift 2
  if ! start_server "$name-idle" "$port" "$@"; then
    status=1
    return
  fi
  sleep 0.3
  local pids
  pids=$(server_pids "$name-idle" | paste -sd, -)
  log "$name: $IDLE_CONNS idle keep-alive connections (server pids $pids)"
  if ! timeout 300 "$PY" "$HERE/peers/idle_conns.py" "$port" "$IDLE_CONNS" "$pids" \
      >"$OUT/$name.idle.txt" 2>"$OUT/$name.idle.log"; then
    log "$name idle: not all $IDLE_CONNS connections held (see $OUT/$name.idle.log)"
    status=1
  fi
  stop_all
}

NGINX_CMD() {  # NGINX_CMD WORKERS PORT -> the command line (printed, one word a line)
  printf '%s\n' "$NGINX" -p "$NGINX_DIR" -e "$OUT/nginx-error-$1.log" -c "$(nginx_conf "$1" "$2")"
}
mapfile -t NGINX1 < <(NGINX_CMD 1 $((PORT0 + 1)))
mapfile -t NGINX2 < <(NGINX_CMD 2 $((PORT0 + 6)))
GO_CMD=(env GOMAXPROCS=1 "$GO_BIN" -addr="127.0.0.1:$((PORT0 + 2))")
GO2_CMD=(env GOMAXPROCS=2 "$GO_BIN" -addr="127.0.0.1:$((PORT0 + 7))")
GEVENT_CMD=("$GEVENT_PYTHON" "$HERE/peers/gevent_http.py" $((PORT0 + 3)))
start_or_fail() { start_server "$@" || status=1; }

# ---- one worker ----------------------------------------------------------------------------------
PIN=("${PIN_SERVER[@]}")
WRK_PIN=("${PIN_CLIENT[@]}")
if [[ -x $GEV_SERVER ]]; then
  start_or_fail gev "$PORT0" "$GEV_SERVER" "$PORT0"
else
  log "$GEV_SERVER is missing (cmake --build BUILD_DIR --target gev_http_server): gev column n/a"
  status=1
fi
[[ $HAVE_NGINX == 1 ]] && start_or_fail nginx $((PORT0 + 1)) "${NGINX1[@]}"
[[ $HAVE_GO == 1 ]] && start_or_fail go $((PORT0 + 2)) "${GO_CMD[@]}"
[[ $HAVE_GEVENT == 1 ]] && start_or_fail gevent $((PORT0 + 3)) "${GEVENT_CMD[@]}"
run_setup

# ---- two workers ---------------------------------------------------------------------------------
if [[ $WORKERS != 0 ]]; then
  PIN=("${PIN_BOTH[@]}")
  WRK_PIN=("${PIN_BOTH[@]}")
  if [[ -x $GEV_SERVER ]]; then
    start_or_fail gev-w2 $((PORT0 + 4)) "$GEV_SERVER" $((PORT0 + 4)) --workers 2
    if start_server gev-2p $((PORT0 + 5)) "$GEV_SERVER" $((PORT0 + 5)) --reuse-port; then
      start_or_fail gev-2p $((PORT0 + 5)) "$GEV_SERVER" $((PORT0 + 5)) --reuse-port
    else
      status=1
    fi
  fi
  [[ $HAVE_NGINX == 1 ]] && start_or_fail nginx-w2 $((PORT0 + 6)) "${NGINX2[@]}"
  [[ $HAVE_GO == 1 ]] && start_or_fail go-w2 $((PORT0 + 7)) "${GO2_CMD[@]}"
  run_setup
fi

# ---- idle keep-alive connections -----------------------------------------------------------------
PIN=("${PIN_SERVER[@]}")
if ((IDLE_CONNS > 0)); then
  [[ -x $GEV_SERVER ]] && idle_measure gev "$PORT0" "$GEV_SERVER" "$PORT0"
  [[ $HAVE_NGINX == 1 ]] && idle_measure nginx $((PORT0 + 1)) "${NGINX1[@]}"
  [[ $HAVE_GO == 1 ]] && idle_measure go $((PORT0 + 2)) "${GO_CMD[@]}"
  [[ $HAVE_GEVENT == 1 ]] && idle_measure gevent $((PORT0 + 3)) "${GEVENT_CMD[@]}"
fi

# ---- the tables ----------------------------------------------------------------------------------
field() {  # field NAME RUN KEY
  local f="$OUT/$1.$2.txt"
  [[ -f $f ]] && awk -v k="$3" '$1 == k {print $2}' "$f"
}
group() { sed -e ':a' -e 's/\B[0-9]\{3\}\>/,&/' -e 'ta' <<<"$1"; }  # 1234567 -> 1,234,567
latency() {  # latency US -> "740 us" or "12.3 ms"
  awk -v u="$1" 'BEGIN { if (u < 10000) printf "%d us", u; else printf "%.1f ms", u / 1000 }'
}
cell() {  # cell NAME RUN -> "123,456 (p99 740 us)" or "n/a"
  local r p
  r=$(field "$1" "$2" req_per_s)
  [[ -z $r ]] && { echo "n/a"; return; }
  p=$(field "$1" "$2" p99_us)
  printf "%s" "$(group "$r")"
  if [[ -z $p ]]; then
    printf " (p99 n/a)"
  elif [[ -n $(field "$1" "$2" p99_seen) ]]; then
    printf " (p99 %s*)" "$(latency "$p")"
  else
    printf " (p99 %s)" "$(latency "$p")"
  fi
  echo
}
cpu() {  # cpu NAME RUN -> "srv 100% wrk 85% oth 2%"
  local s c o
  s=$(field "$1" "$2" server_cpu_pct)
  c=$(field "$1" "$2" client_cpu_pct)
  o=$(field "$1" "$2" other_cpu_pct)
  [[ -z $s$c ]] && return
  echo "srv ${s:-?}% wrk ${c:-?}% oth ${o:-?}%"
}
ratio() {  # ratio A B -> "1.23x" or n/a
  if [[ -n $1 && -n $2 ]]; then
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }'
  else
    echo n/a
  fi
}
ERRORS=()
note_errors() {  # note_errors NAME RUN: non-2xx responses and socket errors wrk reported
  local f="$OUT/$1.$2.txt" n e
  [[ -f $f ]] || return
  n=$(field "$1" "$2" non2xx)
  e=$(awk '$1 == "socket_errors" && ($3 + $5 + $7 + $9) > 0 {
             printf "connect %d, read %d, write %d, timeout %d", $3, $5, $7, $9 }' "$f")
  if [[ -n $n && $n != 0 ]]; then ERRORS+=("$1 $2: $(group "$n") non-2xx responses"); fi
  if [[ -n $e ]]; then ERRORS+=("$1 $2: socket errors $e"); fi
  if [[ -n $(field "$1" "$2" p99_seen) ]]; then
    ERRORS+=("$1 $2: 99% 0.00us (wrk 4.1 bug, wg/wrk#354); p99* is over the samples it kept")
  fi
}
W=26
NWIDE=4
row() {  # row LABEL CELL... (the first NWIDE cells $W wide, the rest 10)
  local label=$1 i=0 c line
  shift
  line=$(printf '%-16s' "$label")
  for c in "$@"; do
    if ((i < NWIDE)); then
      line+=$(printf ' | %-*s' "$W" "$c")
    else
      line+=$(printf ' | %-10s' "$c")
    fi
    i=$((i + 1))
  done
  echo "${line%"${line##*[! ]}"}"  # without trailing blanks
}
rule() {  # rule NNARROW
  local i
  printf -- '-----------------'
  for ((i = 0; i < NWIDE; i++)); do printf -- '+%s' "$(printf -- '-%.0s' $(seq $((W + 2))))"; done
  for ((i = 0; i < $1; i++)); do printf -- '+------------'; done
  echo
}

echo
echo "http plaintext: ${SECONDS_PER_RUN}s per run after ${WARMUP}s warm-up; wrk -t1" \
     "($($WRK -v 2>&1 | head -1 | cut -d' ' -f1-2)) on cpu ${CCPU:-any}, one-worker servers" \
     "on cpu ${SCPU:-any}; load $(cut -d' ' -f1-3 /proc/loadavg)"
row load "gev req/s (p99)" "nginx 1 worker" "Go (GOMAXPROCS=1)" "gevent pywsgi" gev/nginx gev/Go \
  gev/gevent
rule 3
for l in "${LOADS[@]}"; do
  read -r load conns <<<"$l"
  run=$load.$conns
  g=$(field gev "$run" req_per_s)
  row "$load c=$conns" "$(cell gev "$run")" "$(cell nginx "$run")" "$(cell go "$run")" \
    "$(cell gevent "$run")" "$(ratio "$g" "$(field nginx "$run" req_per_s)")" \
    "$(ratio "$g" "$(field go "$run" req_per_s)")" \
    "$(ratio "$g" "$(field gevent "$run" req_per_s)")"
  row "  cpu" "$(cpu gev "$run")" "$(cpu nginx "$run")" "$(cpu go "$run")" "$(cpu gevent "$run")"
  for n in gev nginx go gevent; do note_errors "$n" "$run"; done
done

if [[ $WORKERS != 0 ]]; then
  echo
  echo "two workers: servers and wrk share cpus ${BOTH_CPUS:-any} (gev workers=2: one process," \
       "two hubs/threads; gev 2 processes: SO_REUSEPORT; nginx: worker_processes 2, reuseport;" \
       "Go: GOMAXPROCS=2)"
  NWIDE=4
  row load "gev workers=2" "gev 2 processes" "nginx 2 workers" "Go (GOMAXPROCS=2)" w=2/nginx \
    2p/nginx w=2/Go
  rule 2
  for l in "${LOADS[@]}"; do
    read -r load conns <<<"$l"
    run=$load.$conns
    n=$(field nginx-w2 "$run" req_per_s)
    row "$load c=$conns" "$(cell gev-w2 "$run")" "$(cell gev-2p "$run")" "$(cell nginx-w2 "$run")" \
      "$(cell go-w2 "$run")" "$(ratio "$(field gev-w2 "$run" req_per_s)" "$n")" \
      "$(ratio "$(field gev-2p "$run" req_per_s)" "$n")" \
      "$(ratio "$(field gev-w2 "$run" req_per_s)" "$(field go-w2 "$run" req_per_s)")"
    row "  cpu" "$(cpu gev-w2 "$run")" "$(cpu gev-2p "$run")" "$(cpu nginx-w2 "$run")" \
      "$(cpu go-w2 "$run")"
    for n in gev-w2 gev-2p nginx-w2 go-w2; do note_errors "$n" "$run"; done
  done
fi
echo "(cpu: % of one core over the measured run: srv the server (all its processes and threads),"
echo " wrk the load generator, oth every other process on the machine (user+system; high = the"
echo " run shared its cores, its figures are noise). A side at ~100% per core it has is the"
echo " bottleneck. Pipelined p99 is per batch of 16; p99*: see below.)"

if ((IDLE_CONNS > 0)); then
  echo
  echo "idle keep-alive connections: $(group "$IDLE_CONNS")${IDLE_NOTE:+ $IDLE_NOTE}, one request" \
       "each, then idle; server VmRSS (nginx: master + 1 worker)"
  printf '%-16s | %-8s | %-12s | %-12s | %s\n' server conns "RSS before" "RSS after" \
    "per connection"
  printf -- '-----------------+----------+--------------+--------------+---------------\n'
  for n in gev nginx go gevent; do
    k=$(field "$n" idle conns)
    if [[ -z $k ]]; then
      printf '%-16s | %-8s | %-12s | %-12s | %s\n' "$n" n/a n/a n/a n/a
      continue
    fi
    printf '%-16s | %-8s | %-12s | %-12s | %s\n' "$n" "$(group "$k")" \
      "$(awk -v k="$(field "$n" idle rss_before_kib)" 'BEGIN { printf "%.1f MiB", k / 1024 }')" \
      "$(awk -v k="$(field "$n" idle rss_after_kib)" 'BEGIN { printf "%.1f MiB", k / 1024 }')" \
      "$(awk -v b="$(field "$n" idle rss_per_conn_bytes)" 'BEGIN { printf "%.1f KiB", b / 1024 }')"
  done
  echo "(issue 6 aims at <= 16 KiB per idle connection for gev)"
fi

if ((${#ERRORS[@]})); then
  echo
  echo "wrk reported:"
  printf '  %s\n' "${ERRORS[@]}"
fi
echo
echo "raw outputs: $OUT/"
exit $status
