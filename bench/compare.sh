#!/usr/bin/env bash
# gev side by side with its peers, in one run, written up: docs/performance.md and its charts.
#
#   bench/compare.sh [--report-only] [--out-dir DIR] BUILD_DIR
#
# `make compare` installs the peers (scripts/install-deps.sh bench), builds gev in Release into
# BUILD_DIR (build-release) and calls this script, which
#   1. checks for gnuplot (scripts/install-deps.sh bench installs it; without it, no charts),
#   2. records the date, the machine, the versions of gev and every peer and the settings in
#      BUILD_DIR/compare-out/env.txt,
#   3. runs bench/run.sh BUILD_DIR: runtime micro-benchmarks against gevent and Go (median of
#      GEV_BENCH_RUNS rounds), 1M parked greenlets, TCP echo against Go and gevent, HTTP against
#      nginx, Go and gevent (c=50, c=1000, pipelining, workers=2, 10k idle keep-alive
#      connections), downloads against curl, aria2c, wget and gevent (median of 5 / 3 runs),
#   4. runs the TCP echo and HTTP benchmarks again (bench/echo.sh, bench/http.sh) until there are
#      GEV_COMPARE_NET_RUNS runs of each (default 3), each in BUILD_DIR/compare-out/run.N/
#      (a directory that links to BUILD_DIR/bench), so that those figures are medians too,
#   5. writes DIR/performance.md and DIR/performance/*.png with bench/performance.py
#      (DIR: --out-dir, or GEV_COMPARE_OUT, default docs/ of the repository).
# Everything pins as DESIGN.md says (server or benchmark on core 0, load generator on core 1);
# give it a quiet machine: it takes 30-40 minutes. A peer that is missing or fails is "n/a" in
# the page; the script still writes the page and then exits nonzero.
#
#   --report-only   skip 1-4: rewrite the page from the outputs already in BUILD_DIR
#
# Environment: GEV_COMPARE_NET_RUNS=3, GEV_COMPARE_OUT=docs, and everything bench/run.sh,
# echo.sh, http.sh and download.sh read (GEV_BENCH_RUNS, GEV_BENCH_1M, GEV_BENCH_QUICK, ...).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
REPORT_ONLY=0
OUT_DIR=${GEV_COMPARE_OUT:-$REPO/docs}
NET_RUNS=${GEV_COMPARE_NET_RUNS:-3}

usage() {
  echo "usage: $0 [--report-only] [--out-dir DIR] BUILD_DIR" >&2
  exit 2
}
args=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --report-only) REPORT_ONLY=1 ;;
    --out-dir) [[ $# -ge 2 ]] || usage; OUT_DIR=$2; shift ;;
    --out-dir=*) OUT_DIR=${1#--out-dir=} ;;
    -h|--help) sed -n '2,28p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) usage ;;
    *) args+=("$1") ;;
  esac
  shift
done
[[ ${#args[@]} -eq 1 ]] || usage
BUILD=$(cd "${args[0]}" 2>/dev/null && pwd) || { echo "compare.sh: no build directory ${args[0]}" >&2; exit 2; }
if ! [[ $NET_RUNS =~ ^[0-9]+$ ]] || ((NET_RUNS < 1)); then
  echo "compare.sh: GEV_COMPARE_NET_RUNS must be a number >= 1" >&2
  exit 2
fi
PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3)
CMP=$BUILD/compare-out
status=0

log() { echo "compare.sh: $*" >&2; }

# ---- gnuplot (installed by scripts/install-deps.sh bench, which make compare runs first) ---------
install_gnuplot() {
  command -v gnuplot >/dev/null && return 0
  log "gnuplot is missing (scripts/install-deps.sh bench installs gnuplot-nox): no charts"
  return 1
}

# ---- versions, machine, settings -----------------------------------------------------------------
first_line() {  # first_line CMD...: the first line of its output (stdout, else stderr), or ""
  local out
  out=$("$@" 2>/dev/null | head -1)
  [[ -z $out ]] && out=$("$@" 2>&1 >/dev/null | head -1)
  echo "$out"
}
record_env() {
  local go gevent_python=${GEVENT_PYTHON:-/usr/bin/python3} rev cxx
  go=$(command -v go || true)
  [[ -z $go && -x /usr/lib/go/bin/go ]] && go=/usr/lib/go/bin/go
  rev=$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)
  cxx=$(grep -m1 '^CMAKE_CXX_COMPILER:' "$BUILD/CMakeCache.txt" 2>/dev/null | cut -d= -f2)
  [[ -n $cxx ]] || cxx=c++
  {
    echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "host: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)," \
         "$(uname -sr), load before the run $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
    echo "gev: git $rev, $(grep -m1 '^CMAKE_BUILD_TYPE' "$BUILD/CMakeCache.txt" 2>/dev/null |
      cut -d= -f2) build in $(realpath --relative-to="$REPO" "$BUILD" 2>/dev/null || echo "$BUILD")"
    echo "version compiler: $(first_line "$cxx" --version)"
    echo "version cmake: $(first_line cmake --version)"
    if "$gevent_python" -c 'import gevent' 2>/dev/null; then
      echo "version gevent: $("$gevent_python" -c 'import gevent, sys
print(gevent.__version__, "on Python", sys.version.split()[0])')"
    fi
    [[ -n $go ]] && echo "version Go: $("$go" version | cut -d' ' -f3), GOMAXPROCS=1"
    command -v nginx >/dev/null && echo "version nginx: $(nginx -v 2>&1 | sed 's/.*: //')"
    [[ -x /usr/sbin/nginx ]] && ! command -v nginx >/dev/null &&
      echo "version nginx: $(/usr/sbin/nginx -v 2>&1 | sed 's/.*: //')"
    command -v wrk >/dev/null && echo "version wrk: $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
    command -v curl >/dev/null && echo "version curl: $(first_line curl --version | cut -d' ' -f1-2)"
    command -v aria2c >/dev/null && echo "version aria2c: $(first_line aria2c --version)"
    command -v wget >/dev/null && echo "version wget: $(first_line wget --version | cut -d' ' -f1-3)"
    command -v gnuplot >/dev/null && echo "version gnuplot: $(first_line gnuplot --version)"
    local v
    for v in GEV_BENCH_RUNS GEV_BENCH_CPU GEV_BENCH_1M GEV_BENCH_QUICK GEV_BENCH_ECHO \
             GEV_BENCH_HTTP GEV_BENCH_DOWNLOAD GEV_ECHO_SECONDS \
             GEV_HTTP_SECONDS GEV_HTTP_IDLE_CONNS GEV_DL_RUNS_SMALL GEV_DL_RUNS_LARGE; do
      [[ -v $v ]] && echo "$v: ${!v}"
    done
    echo "GEV_COMPARE_NET_RUNS: $NET_RUNS"
  } >"$CMP/env.txt"
}

# ---- the repeated network runs -------------------------------------------------------------------
# net_run N: bench/echo.sh and bench/http.sh once more, into CMP/run.N/{echo,http}-out. run.N
# links to BUILD's benchmark programs and Go cache; the Go peers are built into it.
net_run() {
  local dir=$CMP/run.$1
  mkdir -p "$dir"
  ln -sfn "$BUILD/bench" "$dir/bench"
  [[ -d $BUILD/go-cache ]] && ln -sfn "$BUILD/go-cache" "$dir/go-cache"
  [[ -f $BUILD/CMakeCache.txt ]] && ln -sfn "$BUILD/CMakeCache.txt" "$dir/CMakeCache.txt"
  if [[ ${GEV_BENCH_ECHO:-1} != 0 ]]; then
    log "TCP echo, run $1 of $NET_RUNS"
    bash "$HERE/echo.sh" "$dir" >"$dir/echo.txt" 2>"$dir/echo.log" ||
      { log "echo run $1 failed or incomplete (see $dir/echo.log)"; status=1; }
  fi
  if [[ ${GEV_BENCH_HTTP:-1} != 0 ]]; then
    log "HTTP, run $1 of $NET_RUNS"
    bash "$HERE/http.sh" "$dir" >"$dir/http.txt" 2>"$dir/http.log" ||
      { log "HTTP run $1 failed or incomplete (see $dir/http.log)"; status=1; }
  fi
}

if [[ $REPORT_ONLY == 0 ]]; then
  install_gnuplot
  rm -rf "$CMP"
  mkdir -p "$CMP"
  record_env
  log "bench/run.sh $BUILD (every part; 30-40 minutes on a quiet machine)"
  bash "$HERE/run.sh" "$BUILD" || { log "run.sh reported a failure (see its output above)"; status=1; }
  if [[ ${GEV_BENCH_QUICK:-0} == 1 ]]; then
    export GEV_ECHO_SECONDS=${GEV_ECHO_SECONDS:-2} GEV_HTTP_SECONDS=${GEV_HTTP_SECONDS:-2}
  fi
  for ((i = 2; i <= NET_RUNS; i++)); do
    net_run "$i"
  done
fi

mkdir -p "$OUT_DIR"
if ! "$PY" "$HERE/performance.py" --build "$BUILD" --out-dir "$OUT_DIR"; then
  log "bench/performance.py failed"
  exit 1
fi
exit $status
