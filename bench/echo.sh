#!/usr/bin/env bash
# TCP echo benchmark: gev (bench/gev_echo_server), Go and gevent echo servers driven by the same
# Go load generator (bench/peers/go_echo), and the table
#   pattern | gev msgs/s (p99) | gev batching | Go | gevent | gev vs Go | batching vs Go
# "gev batching" is the same gev server with GEV_IO_BATCH_US=50 (Hub::set_io_batching: polls
# at most every 50 us under load, trading latency for throughput).
#
#   bench/echo.sh BUILD_DIR       (BUILD_DIR holds bench/gev_echo_server)
#
# Each server runs single-threaded pinned to one core (GEV_ECHO_SERVER_CPU, default 0; Go with
# GOMAXPROCS=1); the client runs with GOMAXPROCS=1 pinned to another (GEV_ECHO_CLIENT_CPU,
# default 1). Patterns: ping-pong of 64-byte messages over 1000 connections (each connection
# sends, waits for the whole echo, repeats; p99 of the round trip) and streaming of 512-byte
# messages over 1000 connections (a writer and a reader per connection; echoed messages/s).
# Loopback only. A server that is missing or fails shows as "n/a". Under each row, the server's
# and the client's CPU use over the measured window (which side was saturated).
#
# Environment:
#   GEV_ECHO_SECONDS=5     measured seconds per run (plus 0.5 s warm-up and connection set-up)
#   GEV_ECHO_CONNS=1000    connections for the two main runs (the others use 4 and 1)
#   GEV_ECHO_PORT=19300    first port (each server gets its own: PORT .. PORT+3)
#   GEV_ECHO_SERVER_CPU=0  GEV_ECHO_CLIENT_CPU=1   cores ("" = no pinning)
#   GEVENT_PYTHON=/usr/bin/python3   GEV_BENCH_GO=PATH (the go command)
set -uo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
BUILD=$(cd "$1" 2>/dev/null && pwd) || { echo "echo.sh: no build directory $1" >&2; exit 2; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SECONDS_PER_RUN=${GEV_ECHO_SECONDS:-5}
CONNS=${GEV_ECHO_CONNS:-1000}
PORT0=${GEV_ECHO_PORT:-19300}
SCPU=${GEV_ECHO_SERVER_CPU-0}
CCPU=${GEV_ECHO_CLIENT_CPU-1}
GEVENT_PYTHON=${GEVENT_PYTHON:-/usr/bin/python3}
GEV_SERVER=$BUILD/bench/gev_echo_server
OUT=$BUILD/echo-out
GO_BIN=$BUILD/go_echo
status=0

log() { echo "echo.sh: $*" >&2; }

rm -rf "$OUT"
mkdir -p "$OUT"

# 1000 client sockets + 1000 server sockets per run, plus slack.
want_fds=$((CONNS * 2 + 256))
if (($(ulimit -n) < want_fds)); then
  ulimit -n "$want_fds" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
fi
if (($(ulimit -n) < CONNS + 64)); then
  log "fd limit $(ulimit -n) is too low for $CONNS connections"
  exit 2
fi

pin_prefix() {  # pin_prefix CPU -> "taskset -c CPU" when CPU is set and usable
  if [[ -n $1 ]] && command -v taskset >/dev/null && taskset -c "$1" true 2>/dev/null; then
    echo "taskset -c $1"
  fi
}
read -r -a PIN_SERVER <<<"$(pin_prefix "$SCPU")"
read -r -a PIN_CLIENT <<<"$(pin_prefix "$CCPU")"

# ---- the Go peer (server and load generator) -----------------------------------------------------
if [[ -v GEV_BENCH_GO ]]; then
  GO=$GEV_BENCH_GO
else
  GO=$(command -v go || true)
  [[ -z $GO && -x /usr/lib/go/bin/go ]] && GO=/usr/lib/go/bin/go
fi
if [[ -z $GO || ! -x $GO ]]; then
  log "go not found (apt-get install golang-go): the load generator is Go, nothing to run"
  exit 2
fi
log "building the Go peer with $($GO version 2>/dev/null)"
if ! (cd "$HERE/peers/go_echo" &&
    GOCACHE=$BUILD/go-cache GOPATH=$BUILD/go-path GOFLAGS='' GOPROXY=off GO111MODULE=on \
      CGO_ENABLED=0 "$GO" build -o "$GO_BIN" .) >"$OUT/go-build.log" 2>&1; then
  log "Go peer did not build (see $OUT/go-build.log)"
  exit 2
fi

# ---- servers ----------------------------------------------------------------------------------------
SERVER_PID=
stop_server() {
  if [[ -n $SERVER_PID ]]; then
    kill "$SERVER_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=
  fi
}
trap stop_server EXIT
trap 'stop_server; exit 130' INT TERM

# start_server NAME PORT CMD... : starts it pinned, waits until it accepts connections.
start_server() {
  local name=$1 port=$2
  shift 2
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    log "$name: something already listens on 127.0.0.1:$port (set GEV_ECHO_PORT)"
    return 1
  fi
  # taskset execs the server, so $! is the server itself (for kill and its CPU use).
  "${PIN_SERVER[@]}" "$@" >"$OUT/$name.server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      log "$name server exited at start (see $OUT/$name.server.log)"
      SERVER_PID=
      return 1
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  log "$name server did not come up on port $port (see $OUT/$name.server.log)"
  stop_server
  return 1
}

# pattern, message size, connections: the issue's two 1000-connection runs, then ping-pong with
# few connections, where each round trip's wake-ups (not the load generator) set the pace.
PATTERNS=("pingpong 64 $CONNS" "stream 512 $CONNS" "pingpong 64 4" "pingpong 64 1")
NAMES=(gev gev-batch go gevent)

run_server() {  # run_server NAME PORT CMD...
  local name=$1 port=$2
  shift 2
  if ! start_server "$name" "$port" "$@"; then
    status=1
    return
  fi
  for p in "${PATTERNS[@]}"; do
    read -r pattern size conns <<<"$p"
    local run=$pattern.$conns
    log "$name: $pattern $size B x $conns conns, ${SECONDS_PER_RUN}s"
    if ! GOMAXPROCS=1 "${PIN_CLIENT[@]}" timeout $((SECONDS_PER_RUN + 60)) "$GO_BIN" -mode=client \
        -addr="127.0.0.1:$port" -conns="$conns" -size="$size" -seconds="$SECONDS_PER_RUN" \
        -pattern="$pattern" -server-pid="$SERVER_PID" >"$OUT/$name.$run.txt" 2>"$OUT/$name.$run.log"; then
      log "$name $run: client failed (see $OUT/$name.$run.log)"
      rm -f "$OUT/$name.$run.txt"
      status=1
    fi
    sleep 0.5  # let the server close the previous run's connections
  done
  stop_server
}

if [[ -x $GEV_SERVER ]]; then
  run_server gev "$PORT0" "$GEV_SERVER" "$PORT0"
else
  log "$GEV_SERVER is missing (cmake --build BUILD_DIR --target gev_echo_server): gev column n/a"
  status=1
fi
if [[ -x $GEV_SERVER ]]; then
  run_server gev-batch $((PORT0 + 3)) env GEV_IO_BATCH_US=50 "$GEV_SERVER" $((PORT0 + 3))
fi
run_server go $((PORT0 + 1)) env GOMAXPROCS=1 "$GO_BIN" -mode=server -addr="127.0.0.1:$((PORT0 + 1))"
if [[ -x $GEVENT_PYTHON ]] && "$GEVENT_PYTHON" -c 'import gevent' 2>/dev/null; then
  run_server gevent $((PORT0 + 2)) "$GEVENT_PYTHON" "$HERE/peers/gevent_echo.py" $((PORT0 + 2))
else
  log "gevent not available to $GEVENT_PYTHON: gevent column n/a"
fi

# ---- the table --------------------------------------------------------------------------------------
field() {  # field NAME PATTERN KEY
  local f="$OUT/$1.$2.txt"
  [[ -f $f ]] && awk -v k="$3" '$1 == k {print $2}' "$f"
}
group() { sed -e ':a' -e 's/\B[0-9]\{3\}\>/,&/' -e 'ta' <<<"$1"; }  # 1234567 -> 1,234,567
cell() {  # cell NAME PATTERN -> "123,456 (p99 7,890 us)" or "n/a"
  local m p
  m=$(field "$1" "$2" msgs_per_s)
  [[ -z $m ]] && { echo "n/a"; return; }
  p=$(field "$1" "$2" p99_us)
  printf "%s" "$(group "$m")"
  [[ -n $p ]] && printf " (p99 %s us)" "$(group "$p")"
  echo
}
cpu() {  # cpu NAME PATTERN -> "srv 100% / cli 85%"
  local s c
  s=$(field "$1" "$2" server_cpu_pct)
  c=$(field "$1" "$2" client_cpu_pct)
  [[ -z $s$c ]] && return
  echo "srv ${s:-?}% / cli ${c:-?}%"
}

echo
echo "echo: ${SECONDS_PER_RUN}s per run; server on cpu ${SCPU:-any}," \
     "client (Go, GOMAXPROCS=1) on cpu ${CCPU:-any}; load $(cut -d' ' -f1-3 /proc/loadavg)"
ratio() {  # ratio A B -> "1.23x" or n/a
  if [[ -n $1 && -n $2 ]]; then
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }'
  else
    echo n/a
  fi
}
line='---------------------+------------------------------'
printf '%-20s | %-28s | %-28s | %-28s | %-28s | %-9s | %s\n' pattern "gev msgs/s (p99)" \
  "gev batching" Go gevent "gev vs Go" "batching vs Go"
printf '%s%s%s%s%s\n' "$line" "+------------------------------" "+------------------------------" \
  "+------------------------------" "+-----------+---------------"
for p in "${PATTERNS[@]}"; do
  read -r pattern size conns <<<"$p"
  run=$pattern.$conns
  g=$(field gev "$run" msgs_per_s)
  b=$(field gev-batch "$run" msgs_per_s)
  o=$(field go "$run" msgs_per_s)
  printf '%-20s | %-28s | %-28s | %-28s | %-28s | %-9s | %s\n' "$pattern $size B x$conns" \
    "$(cell gev "$run")" "$(cell gev-batch "$run")" "$(cell go "$run")" \
    "$(cell gevent "$run")" "$(ratio "$g" "$o")" "$(ratio "$b" "$o")"
  printf '%-20s | %-28s | %-28s | %-28s | %-28s |\n' "  cpu" "$(cpu gev "$run")" \
    "$(cpu gev-batch "$run")" "$(cpu go "$run")" "$(cpu gevent "$run")"
done
echo "(cpu: server and client CPU use over the measured window, % of one core; a side at ~100%"
echo " is the bottleneck. Another load on the machine makes these figures noisy.)"
echo
echo "raw outputs: $OUT/"
exit $status
