#!/usr/bin/env bash
# Runs gev's benchmarks and the gevent and Go peers side by side, and prints the table
#   measure | gev | gevent | Go | gev vs gevent | gev vs Go | target
# (also written as markdown to BUILD_DIR/bench-results.md).
#
#   bench/run.sh BUILD_DIR            (`make bench` runs: bench/run.sh build-release)
#
# BUILD_DIR must hold a build of gev with bench/ (bench/gev_micro, bench/gev_monkey_micro,
# bench/gev_memory). Every
# figure is the median of GEV_BENCH_RUNS runs (default 3); the runs interleave gev, gevent and Go
# so that load from elsewhere on the machine hits them alike. Everything is single-threaded and
# pinned to one core (GEV_BENCH_CPU, default 0) with taskset; Go runs with GOMAXPROCS=1.
# A peer that is not installed, does not build or fails shows as "n/a".
#
# Environment:
#   GEV_BENCH_RUNS=3     runs per figure
#   GEV_BENCH_CPU=0      core to pin to ("" = no pinning)
#   GEV_BENCH_1M=1       also park 1,000,000 greenlets once (needs ~9 GiB; 0 skips)
#   GEV_BENCH_ECHO=1     also the TCP echo benchmark against Go and gevent (bench/echo.sh;
#                        0 skips); its table is appended to the markdown file
#   GEV_BENCH_HTTP=1     also the HTTP plaintext benchmark against nginx, Go net/http and gevent
#                        pywsgi under wrk (bench/http.sh; 0 skips); appended to the markdown too
#   GEV_BENCH_DOWNLOAD=1 also the download benchmark: gevget against curl -Z, aria2c, wget and
#                        gevent+urllib from nginx (bench/download.sh; needs BUILD_DIR/tools/gevget;
#                        0 skips); appended to the markdown too
#   GEV_BENCH_QUICK=0    1: shorter runs (smoke test; figures are noisier)
#   GEVENT_PYTHON=/usr/bin/python3   interpreter that has gevent
#   GEV_BENCH_GO=PATH    the go command (default: go on PATH; "" leaves Go out)
set -uo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
BUILD=$(cd "$1" 2>/dev/null && pwd) || { echo "run.sh: no build directory $1" >&2; exit 2; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RUNS=${GEV_BENCH_RUNS:-3}
CPU=${GEV_BENCH_CPU-0}
QUICK=${GEV_BENCH_QUICK:-0}
GEVENT_PYTHON=${GEVENT_PYTHON:-/usr/bin/python3}
MICRO=$BUILD/bench/gev_micro
MEMORY=$BUILD/bench/gev_memory
OUT=$BUILD/bench-out
RESULTS=$BUILD/bench-results.md
status=0

for exe in "$MICRO" "$MEMORY"; do
  if [[ ! -x $exe ]]; then
    echo "run.sh: $exe is missing; build with Google Benchmark installed (libbenchmark-dev)" >&2
    exit 2
  fi
done
rm -rf "$OUT"
mkdir -p "$OUT"

# Pinning: one core for everything (the benchmarks are single-threaded by design).
PIN=()
if [[ -n $CPU ]] && command -v taskset >/dev/null && taskset -c "$CPU" true 2>/dev/null; then
  PIN=(taskset -c "$CPU")
fi

log() { echo "run.sh: $*" >&2; }

# ---- peers -------------------------------------------------------------------------------------
HAVE_GEVENT=0
if [[ -x $GEVENT_PYTHON ]] && "$GEVENT_PYTHON" -c 'import gevent' 2>/dev/null; then
  HAVE_GEVENT=1
else
  log "gevent not available to $GEVENT_PYTHON (apt-get install python3-gevent): gevent column n/a"
fi

HAVE_GO=0
GO_BIN=$BUILD/go_bench
if [[ -v GEV_BENCH_GO ]]; then
  GO=$GEV_BENCH_GO
else
  GO=$(command -v go || true)
  [[ -z $GO && -x /usr/lib/go/bin/go ]] && GO=/usr/lib/go/bin/go
fi
if [[ -n $GO && -x $GO ]]; then
  log "building the Go peer with $($GO version 2>/dev/null)"
  if (cd "$HERE/peers/go_bench" &&
      GOCACHE=$BUILD/go-cache GOPATH=$BUILD/go-path GOFLAGS='' GOPROXY=off GO111MODULE=on \
        CGO_ENABLED=0 "$GO" build -o "$GO_BIN" .) >"$OUT/go-build.log" 2>&1; then
    HAVE_GO=1
  else
    log "Go peer did not build (see $OUT/go-build.log): Go column n/a"
  fi
else
  log "go not found (apt-get install golang-go): Go column n/a"
fi

QUICK_PY=() QUICK_GO=() MICRO_ARGS=()
if [[ $QUICK == 1 ]]; then
  QUICK_PY=(--quick) QUICK_GO=(-quick) MICRO_ARGS=(--benchmark_min_time=0.1)
fi

{
  echo "date:    $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "host:    $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)," \
       "$(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "cpu:     $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "pinning: ${PIN[*]:-none}; runs per figure: $RUNS (median)"
  echo "gev:     $BUILD ($(grep -m1 '^CMAKE_BUILD_TYPE' "$BUILD/CMakeCache.txt" 2>/dev/null | cut -d= -f2))"
  [[ $HAVE_GEVENT == 1 ]] && echo "gevent:  $("$GEVENT_PYTHON" -c 'import gevent, sys; print(gevent.__version__, "on Python", sys.version.split()[0])')"
  [[ $HAVE_GO == 1 ]] && echo "Go:      $($GO version | cut -d' ' -f3), GOMAXPROCS=1"
} >"$OUT/info.txt"

# ---- the runs ------------------------------------------------------------------------------------
for ((i = 1; i <= RUNS; i++)); do
  log "run $i/$RUNS: gev micro"
  if ! "${PIN[@]}" timeout 900 "$MICRO" --benchmark_format=json "${MICRO_ARGS[@]}" \
      >"$OUT/gev_micro.$i.json" 2>"$OUT/gev_micro.$i.log"; then
    log "gev_micro failed (see $OUT/gev_micro.$i.log)"
    status=1
  fi
  log "run $i/$RUNS: gev monkey (patched POSIX sockets)"
  if ! "${PIN[@]}" timeout 900 "$BUILD/bench/gev_monkey_micro" --benchmark_format=json \
      "${MICRO_ARGS[@]}" >"$OUT/gev_monkey.$i.json" 2>"$OUT/gev_monkey.$i.log"; then
    log "gev_monkey_micro failed (see $OUT/gev_monkey.$i.log)"
    status=1
  fi
  log "run $i/$RUNS: gev memory (100k parked)"
  if ! "${PIN[@]}" timeout 900 "$MEMORY" 100000 >"$OUT/gev_memory.$i.txt" 2>&1; then
    log "gev_memory 100000 failed (see $OUT/gev_memory.$i.txt)"
    status=1
  fi
  if [[ $HAVE_GEVENT == 1 ]]; then
    log "run $i/$RUNS: gevent"
    "${PIN[@]}" timeout 900 "$GEVENT_PYTHON" "$HERE/peers/gevent_bench.py" "${QUICK_PY[@]}" \
      >"$OUT/gevent.$i.txt" 2>"$OUT/gevent.$i.log" || log "gevent peer failed (see $OUT/gevent.$i.log)"
  fi
  if [[ $HAVE_GO == 1 ]]; then
    log "run $i/$RUNS: Go"
    GOMAXPROCS=1 "${PIN[@]}" timeout 900 "$GO_BIN" "${QUICK_GO[@]}" \
      >"$OUT/go.$i.txt" 2>"$OUT/go.$i.log" || log "Go peer failed (see $OUT/go.$i.log)"
  fi
done

if [[ ${GEV_BENCH_1M:-1} != 0 ]]; then
  log "gev memory: 1,000,000 parked greenlets (takes a while, ~9 GiB)"
  "${PIN[@]}" timeout 1800 "$MEMORY" 1000000 >"$OUT/gev_memory_1m.txt" 2>&1
  rc=$?
  echo "exit_code $rc" >>"$OUT/gev_memory_1m.txt"
  if [[ $rc -ne 0 ]]; then
    log "gev_memory 1000000 failed with exit code $rc (see $OUT/gev_memory_1m.txt)"
    status=1
  fi
  # The same million for the peers (gevent needs ~9 GiB too, and a minute to kill them all).
  if [[ $HAVE_GO == 1 ]]; then
    log "Go memory: 1,000,000 parked goroutines"
    GOMAXPROCS=1 "${PIN[@]}" timeout 1800 "$GO_BIN" -parked 1000000 >"$OUT/go_memory_1m.txt" \
      2>"$OUT/go_memory_1m.log" || log "Go 1M parked failed (see $OUT/go_memory_1m.log)"
  fi
  if [[ $HAVE_GEVENT == 1 ]]; then
    log "gevent memory: 1,000,000 parked greenlets"
    "${PIN[@]}" timeout 1800 "$GEVENT_PYTHON" "$HERE/peers/gevent_bench.py" --parked 1000000 \
      >"$OUT/gevent_memory_1m.txt" 2>"$OUT/gevent_memory_1m.log" ||
      log "gevent 1M parked failed (see $OUT/gevent_memory_1m.log)"
  fi
fi

# ---- the table -----------------------------------------------------------------------------------
PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3)
echo
"$PY" "$HERE/report.py" "$OUT" "$RESULTS" || status=1
if [[ ${GEV_BENCH_ECHO:-1} != 0 ]]; then
  log "TCP echo: gev, Go and gevent servers under the same Go load generator"
  if [[ ${GEV_BENCH_QUICK:-0} == 1 ]]; then export GEV_ECHO_SECONDS=${GEV_ECHO_SECONDS:-2}; fi
  if bash "$HERE/echo.sh" "$BUILD" >"$OUT/echo.txt" 2>"$OUT/echo.log"; then :; else
    log "echo benchmark failed or incomplete (see $OUT/echo.log)"
    status=1
  fi
  cat "$OUT/echo.txt"
  { echo; echo '```'; cat "$OUT/echo.txt"; echo '```'; } >>"$RESULTS"
fi
if [[ ${GEV_BENCH_HTTP:-1} != 0 ]]; then
  log "HTTP plaintext: gev, nginx, Go net/http and gevent pywsgi servers under wrk"
  if [[ ${GEV_BENCH_QUICK:-0} == 1 ]]; then export GEV_HTTP_SECONDS=${GEV_HTTP_SECONDS:-2}; fi
  if bash "$HERE/http.sh" "$BUILD" >"$OUT/http.txt" 2>"$OUT/http.log"; then :; else
    log "HTTP benchmark failed or incomplete (see $OUT/http.log)"
    status=1
  fi
  cat "$OUT/http.txt"
  { echo; echo '```'; cat "$OUT/http.txt"; echo '```'; } >>"$RESULTS"
fi
if [[ ${GEV_BENCH_DOWNLOAD:-1} != 0 ]]; then
  log "downloads: gevget, curl, aria2c, wget and gevent+urllib from nginx"
  if [[ ${GEV_BENCH_QUICK:-0} == 1 ]]; then
    export GEV_DL_RUNS_SMALL=${GEV_DL_RUNS_SMALL:-1} GEV_DL_RUNS_LARGE=${GEV_DL_RUNS_LARGE:-1}
    export GEV_DL_LARGE_MB=${GEV_DL_LARGE_MB:-50}
  fi
  if bash "$HERE/download.sh" "$BUILD" >"$OUT/download.txt" 2>"$OUT/download.log"; then :; else
    log "download benchmark failed or incomplete (see $OUT/download.log)"
    status=1
  fi
  cat "$OUT/download.txt"
  { echo; cat "$BUILD/bench-download.md" 2>/dev/null; } >>"$RESULTS"
fi

echo
echo "markdown: $RESULTS   raw outputs: $OUT/"
exit $status
