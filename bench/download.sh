#!/usr/bin/env bash
# Download benchmark (gevget, docs/gevget.md): gevget against curl -Z, aria2c, wget and gevent +
# urllib.request, all fetching from one local nginx over loopback (nothing leaves the machine),
# and a markdown table per workload
#   tool | wall s | wall min-max | CPU s | peak RSS MiB | nginx CPU s | other CPU | wall vs gevget
# (printed and written to BUILD_DIR/bench-download.md; raw outputs in BUILD_DIR/download-out/).
#
#   bench/download.sh BUILD_DIR      (BUILD_DIR/tools/gevget/gevget is the program; without it
#                                     the peers still run and the gevget row is n/a)
#
# Workloads (random data generated in a temporary directory for every invocation):
#   small  1000 x 10 KiB files, 50 at once: gevget -j 50, curl -Z --parallel-max 50,
#          aria2c -j 50, wget (sequential: it has no parallel mode), gevent Pool(50)
#   large  4 x 200 MiB files, each tool with its best flags: gevget -j 4 -x 8,
#          aria2c -j 4 -x 8 -s 8 -k 1M, curl -Z (4 transfers at once), wget (sequential),
#          gevent Pool(50) (4 at once). Skipped, saying so, when the temporary directory's file
#          system has less than 3 GiB free (sources + one set of outputs take 1.6 GiB).
#
# Server: nginx (1.22 on Debian 12) from a generated config: 1 worker (worker_processes 1),
# sendfile on, tcp_nopush on, keepalive_requests 10000, access_log off, on the first free port
# from GEV_DL_PORT on 127.0.0.1, master and worker pinned to GEV_DL_SERVER_CPU (core 0). The
# files are served from the page cache (they were just written, and every run reads them
# again): the benchmark measures the clients and the loopback path, not the disk it reads.
#
# Pinning (decided, not a default taken over): every downloader runs pinned to ONE core,
# GEV_DL_CLIENT_CPU (core 1), the other core being nginx's. On a 2-core machine an unpinned client
# would compete with nginx for its core, and the figures would measure the scheduler's choices
# as much as the client. All five clients are single-threaded event loops or sequential (curl -Z,
# aria2c, wget, gevent, gevget's one hub), so one core takes nothing from any of them that it
# could have used; a client with helper threads would have them share that one core. Set
# GEV_DL_CLIENT_CPU="" (and GEV_DL_SERVER_CPU="") to run unpinned.
#
# Every run: a new, empty output directory, then `sync` (the previous run's writes do not get
# written back during the next one; the page cache is NOT dropped: that would be neither
# possible without root nor fair), then a wait (at most GEV_DL_QUIET_WAIT s) until the machine
# is idle, then
#   timeout T /usr/bin/time -v taskset -c CLIENT_CPU TOOL ...
# Wall: the script's own clock (ns) around that command (GNU time's Elapsed has a 10 ms
# resolution, too coarse for ~0.1 s runs; it is kept in the raw outputs); CPU: the tool's user +
# system time and peak RSS: its Maximum resident set size, both from /usr/bin/time -v; nginx CPU:
# its worker's user + system over the run (/proc, 10 ms ticks); other CPU: every other process
# on the machine over the run, % of one core (well above 0: the run shared the machine, its
# figures are noisy). Then every output is verified: the directory must hold exactly the
# expected files (no .part or .aria2 left) and each must match the source's sha256. A tool that
# exits nonzero or fails verification in any run is reported as FAILED (with the reason), not
# timed, and is not run again in that workload. The large outputs are deleted after each run,
# the small ones at the end of the workload.
#
# File creation: the outputs are written to a real file system (the report names it), as a
# user's downloads are: what a tool makes the file system do (fsync, renames, truncation, early
# writeback) is part of its time. On ext4 without a journal (as on the machine this was written
# on), creating a file where many were deleted less than 60 s ago (360 s while their inode
# table block is dirty) costs several times more: the inode allocator skips such inodes,
# reading the inode table for each (fs/ext4/ialloc.c find_inode_bit -> recently_deleted). When
# every run deleted the previous run's 1000 files that was 55-70% of curl's and gevget's CPU,
# and a run right after an earlier invocation's clean-up took up to 5x as long, falling run by
# run. So the run directories are made under a directory with the ext4 "top of hierarchy"
# attribute (chattr +T): the Orlov allocator puts each one in a block group of its own, away
# from deleted files (where chattr +T does not apply, the script says so and goes on).
#
# Each figure is the median over the runs (GEV_DL_RUNS_SMALL, default 5; GEV_DL_RUNS_LARGE,
# default 3); the runs interleave the tools, in an order rotated every run, so that load from
# elsewhere on the machine hits them alike. "wall vs gevget" is the tool's median wall time over
# gevget's (2.00x: the tool took twice as long as gevget).
#
# Environment:
#   GEV_BENCH_RUNS             default for both run counts below
#   GEV_DL_RUNS_SMALL=5  GEV_DL_RUNS_LARGE=3
#   GEV_DL_SMALL=1  GEV_DL_LARGE=1     0 skips a workload
#   GEV_DL_SMALL_COUNT=1000  GEV_DL_SMALL_KB=10  GEV_DL_LARGE_COUNT=4  GEV_DL_LARGE_MB=200
#   GEV_DL_TOOLS="gevget curl aria2c wget gevent"   the tools to run (in this order in the table)
#   GEV_DL_PORT=19500          first port tried for nginx
#   GEV_DL_QUIET_WAIT=5  GEV_DL_QUIET_PCT=25   before each run, wait up to 5 s until the
#                              machine uses less than 25% of one core (0: do not wait)
#   GEV_DL_SERVER_CPU=0  GEV_DL_CLIENT_CPU=1   cores ("" = no pinning)
#   GEV_DL_TMP=${TMPDIR:-/tmp}   where the temporary directory goes
#   GEV_DL_GEVGET=BUILD_DIR/tools/gevget/gevget   GEVENT_PYTHON=/usr/bin/python3
#   GEV_HTTP_NGINX=nginx
set -uo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
BUILD=$(cd "$1" 2>/dev/null && pwd) || { echo "download.sh: no build directory $1" >&2; exit 2; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RUNS_SMALL=${GEV_DL_RUNS_SMALL:-${GEV_BENCH_RUNS:-5}}
RUNS_LARGE=${GEV_DL_RUNS_LARGE:-${GEV_BENCH_RUNS:-3}}
SMALL_COUNT=${GEV_DL_SMALL_COUNT:-1000}
SMALL_KB=${GEV_DL_SMALL_KB:-10}
LARGE_COUNT=${GEV_DL_LARGE_COUNT:-4}
LARGE_MB=${GEV_DL_LARGE_MB:-200}
read -r -a TOOLS <<<"${GEV_DL_TOOLS:-gevget curl aria2c wget gevent}"
PORT=${GEV_DL_PORT:-19500}
SCPU=${GEV_DL_SERVER_CPU-0}
CCPU=${GEV_DL_CLIENT_CPU-1}
GEVGET=${GEV_DL_GEVGET:-$BUILD/tools/gevget/gevget}
GEVENT_PYTHON=${GEVENT_PYTHON:-/usr/bin/python3}
NGINX=${GEV_HTTP_NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
TIME=/usr/bin/time
OUT=$BUILD/download-out
RESULTS=$BUILD/bench-download.md
status=0

log() { echo "download.sh: $*" >&2; }

rm -rf "$OUT"
mkdir -p "$OUT"
TMPBASE=${GEV_DL_TMP:-${TMPDIR:-/tmp}}
WORK=$(mktemp -d "$TMPBASE/gev-download.XXXXXX") || {
  log "cannot create a directory in $TMPBASE"
  exit 2
}
NGINX_PID=

cleanup() {
  if [[ -n $NGINX_PID ]]; then
    kill "$NGINX_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$NGINX_PID" 2>/dev/null
    wait "$NGINX_PID" 2>/dev/null
    NGINX_PID=
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

pin_prefix() {  # pin_prefix CPUS -> "taskset -c CPUS" when CPUS is set and usable
  if [[ -n $1 ]] && command -v taskset >/dev/null && taskset -c "$1" true 2>/dev/null; then
    echo "taskset -c $1"
  fi
}
read -r -a PIN_SERVER <<<"$(pin_prefix "$SCPU")"
read -r -a PIN_CLIENT <<<"$(pin_prefix "$CCPU")"

# ---- the tools -----------------------------------------------------------------------------------
if [[ ! -x $TIME ]] || ! "$TIME" -v true 2>/dev/null; then
  log "$TIME (GNU time) is missing: apt-get install time"
  exit 2
fi
if [[ ! -x $NGINX ]]; then
  log "nginx not found (scripts/install-deps.sh bench, or apt-get install nginx-light)"
  exit 2
fi
declare -A HAVE=() VERSION=()
for t in "${TOOLS[@]}"; do
  case $t in
    gevget)
      if [[ -x $GEVGET ]]; then
        HAVE[$t]=1
        VERSION[$t]="$("$GEVGET" --version 2>&1 | head -1) ($GEVGET)"
      else
        log "$GEVGET is missing (cmake --build BUILD_DIR --target gevget): gevget row n/a"
        status=1
      fi ;;
    curl)
      if command -v curl >/dev/null; then
        HAVE[$t]=1
        VERSION[$t]=$(curl --version | head -1 | cut -d' ' -f1-3)
      else
        log "curl not found (apt-get install curl): curl row n/a"
      fi ;;
    aria2c)
      if command -v aria2c >/dev/null; then
        HAVE[$t]=1
        VERSION[$t]=$(aria2c --version | head -1)
      else
        log "aria2c not found (apt-get install aria2): aria2c row n/a"
      fi ;;
    wget)
      if command -v wget >/dev/null; then
        HAVE[$t]=1
        VERSION[$t]=$(wget --version | head -1)
      else
        log "wget not found (apt-get install wget): wget row n/a"
      fi ;;
    gevent)
      if [[ -x $GEVENT_PYTHON ]] && "$GEVENT_PYTHON" -c 'import gevent' 2>/dev/null; then
        HAVE[$t]=1
        VERSION[$t]="gevent $("$GEVENT_PYTHON" -c 'import gevent, sys
print(gevent.__version__, "on Python", sys.version.split()[0])')"
      else
        log "gevent not available to $GEVENT_PYTHON (apt-get install python3-gevent):" \
            "gevent row n/a"
      fi ;;
    *)
      log "unknown tool $t in GEV_DL_TOOLS (gevget curl aria2c wget gevent)"
      exit 2 ;;
  esac
done

# ---- the data ------------------------------------------------------------------------------------
DATA=$WORK/data
mkdir -p "$DATA/small" "$DATA/large" "$WORK/out"
# Each run directory in a block group of its own (see "File creation" above).
if ! chattr +T "$WORK/out" 2>/dev/null; then
  log "chattr +T $WORK/out failed (not ext2/3/4, or no chattr): run directories stay in one" \
      "block group; on ext4 without a journal, files deleted shortly before slow creation down"
fi
WORKLOADS=()
if [[ ${GEV_DL_SMALL:-1} != 0 ]]; then
  log "generating $SMALL_COUNT x $SMALL_KB KiB random files"
  digits=${#SMALL_COUNT}
  ((digits < 4)) && digits=4
  head -c $((SMALL_COUNT * SMALL_KB * 1024)) /dev/urandom |
    split -b $((SMALL_KB * 1024)) -a "$digits" -d --additional-suffix=.bin - "$DATA/small/f"
  WORKLOADS+=(small)
fi
if [[ ${GEV_DL_LARGE:-1} != 0 ]]; then
  free_kib=$(df -Pk "$WORK" | awk 'NR == 2 { print $4 }')
  if ((free_kib < 3 * 1024 * 1024)); then
    log "large workload skipped: $((free_kib / 1024)) MiB free in $TMPBASE, it needs 3 GiB" \
        "(set GEV_DL_TMP to a roomier file system)"
    LARGE_SKIPPED="skipped: only $((free_kib / 1024)) MiB free in $TMPBASE (needs 3 GiB)"
  else
    log "generating $LARGE_COUNT x $LARGE_MB MiB random files"
    for ((i = 1; i <= LARGE_COUNT; i++)); do
      head -c $((LARGE_MB * 1024 * 1024)) /dev/urandom >"$DATA/large/big$i.bin"
    done
    WORKLOADS+=(large)
  fi
fi
sync  # the sources' writeback is done before the first run
for w in "${WORKLOADS[@]}"; do
  (cd "$DATA/$w" && sha256sum -- *.bin) >"$WORK/$w.sha256"
done

# ---- nginx ---------------------------------------------------------------------------------------
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for _ in $(seq 100); do
  port_open "$PORT" || break
  PORT=$((PORT + 1))
done
NGINX_DIR=$WORK/nginx
mkdir -p "$NGINX_DIR"
NGINX_CONF=$NGINX_DIR/nginx.conf
{
  # As root the worker would switch to "nobody", who cannot read WORK; keep the current user.
  [[ $(id -u) -eq 0 ]] && echo "user $(id -un) $(id -gn);"
  cat <<EOF
worker_processes 1;
daemon off;
master_process on;
pid $NGINX_DIR/nginx.pid;
error_log $OUT/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $NGINX_DIR/body;
  proxy_temp_path $NGINX_DIR/proxy;
  fastcgi_temp_path $NGINX_DIR/fastcgi;
  uwsgi_temp_path $NGINX_DIR/uwsgi;
  scgi_temp_path $NGINX_DIR/scgi;
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 10000;
  keepalive_timeout 75s;
  server {
    listen 127.0.0.1:$PORT;
    root $DATA;
  }
}
EOF
} >"$NGINX_CONF"
"${PIN_SERVER[@]}" "$NGINX" -p "$NGINX_DIR" -e "$OUT/nginx-error.log" -c "$NGINX_CONF" \
  >"$OUT/nginx.log" 2>&1 &
NGINX_PID=$!
for _ in $(seq 100); do
  kill -0 "$NGINX_PID" 2>/dev/null || break
  port_open "$PORT" && break
  sleep 0.1
done
if ! port_open "$PORT"; then
  log "nginx did not come up on 127.0.0.1:$PORT (see $OUT/nginx.log, $OUT/nginx-error.log)"
  exit 1
fi
NGINX_WORKER=
for _ in $(seq 50); do
  NGINX_WORKER=$(pgrep -P "$NGINX_PID" | head -1)
  [[ -n $NGINX_WORKER ]] && break
  sleep 0.1
done
BASE=http://127.0.0.1:$PORT
log "nginx on $BASE (master $NGINX_PID, worker ${NGINX_WORKER:-?})"

for w in "${WORKLOADS[@]}"; do
  # The URL list (gevget, aria2c, wget, gevent) and curl's config file (-K).
  (cd "$DATA/$w" && ls -- *.bin) | sed "s|^|$BASE/$w/|" >"$WORK/$w.urls"
  sed 's|.*|url = "&"|' "$WORK/$w.urls" >"$WORK/$w.curl"
  if [[ $(curl -s -o /dev/null -w '%{http_code}' "$(head -1 "$WORK/$w.urls")") != 200 ]]; then
    log "nginx does not serve $(head -1 "$WORK/$w.urls") (see $OUT/nginx-error.log)"
    exit 1
  fi
done

# ---- the commands --------------------------------------------------------------------------------
# tool_cmd WORKLOAD TOOL DIR -> the command line, one word a line
tool_cmd() {
  local w=$1 t=$2 d=$3 list=$WORK/$1.urls
  case $t:$w in
    gevget:small) printf '%s\n' "$GEVGET" -j 50 -q -i "$list" -d "$d" ;;
    gevget:large) printf '%s\n' "$GEVGET" -j "$LARGE_COUNT" -x 8 -q -i "$list" -d "$d" ;;
    # curl reads the URLs from a config file (url = "..." lines, -K); --parallel-immediate: open
    # the connections at once instead of first waiting to see whether transfers can share one
    # (they cannot: HTTP/1.1; measured the same either way); --fail: an HTTP error fails;
    # --no-progress-meter: curl 7.88 draws the -Z progress meter even with -s.
    curl:small)
      printf '%s\n' curl -Z --parallel-max 50 --parallel-immediate -s -S --no-progress-meter \
        --fail --remote-name-all --output-dir "$d" -K "$WORK/$w.curl" ;;
    curl:large)
      printf '%s\n' curl -Z --parallel-max "$LARGE_COUNT" --parallel-immediate -s -S \
        --no-progress-meter --fail --remote-name-all --output-dir "$d" -K "$WORK/$w.curl" ;;
    # aria2c: --auto-save-interval=0 (by default aria2c also saves each download's .aria2
    # control file, with 2 more fsync()s per file: 1000 small files take 1.4 s instead of 0.46 s
    # here); no preallocation, no renaming, no config file, no console output. Small: -x 1 (a
    # 10 KiB file is one piece anyway). Large: the issue's -x 8 -s 8 (-x 1 -s 1 measured the
    # same within noise; --disk-cache=0/64M and --enable-mmap did not help).
    aria2c:small)
      printf '%s\n' aria2c --no-conf -j 50 -x 1 --file-allocation=none --auto-save-interval=0 \
        --auto-file-renaming=false --allow-overwrite=true --quiet -i "$list" -d "$d" ;;
    aria2c:large)
      printf '%s\n' aria2c --no-conf -j "$LARGE_COUNT" -x 8 -s 8 -k 1M --file-allocation=none \
        --auto-save-interval=0 --auto-file-renaming=false --allow-overwrite=true --quiet \
        -i "$list" -d "$d" ;;
    wget:*) printf '%s\n' wget --no-config -q -i "$list" -P "$d" ;;
    gevent:*)
      printf '%s\n' "$GEVENT_PYTHON" "$HERE/peers/gevent_download.py" -j 50 -i "$list" -d "$d" ;;
  esac
}

now_ns() { date +%s%N; }
proc_ticks() {  # proc_ticks PID: user+system clock ticks
  local s f
  s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  s=${s##*) }
  read -r -a f <<<"$s"
  echo $((f[11] + f[12]))
}
machine_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4; exit }' /proc/stat; }
HZ=$(getconf CLK_TCK)

declare -A FAILED=()  # workload:tool -> reason

# wait_quiet: waits (at most QUIET_WAIT seconds) until the machine is idle: less than QUIET_PCT
# % of one core busy over 0.2 s. On a shared machine this keeps most runs out of other people's
# bursts; the "other CPU" column shows what was left.
QUIET_WAIT=${GEV_DL_QUIET_WAIT:-5}
QUIET_PCT=${GEV_DL_QUIET_PCT:-25}
wait_quiet() {
  local end=$((SECONDS + QUIET_WAIT)) m0 m1
  ((QUIET_WAIT > 0)) || return 0
  while :; do
    m0=$(machine_ticks)
    sleep 0.2
    m1=$(machine_ticks)
    (((m1 - m0) * 100 * 5 < QUIET_PCT * HZ)) && return 0
    ((SECONDS >= end)) && return 1
  done
}

# verify WORKLOAD DIR -> "" when DIR holds exactly the sources, else the reason
verify() {
  local w=$1 d=$2 n want bad
  want=$(wc -l <"$WORK/$w.sha256")
  n=$(find "$d" -mindepth 1 | wc -l)
  if ((n != want)); then
    echo "$n entries in the output directory, $want expected: $(cd "$d" && find . -mindepth 1 |
      grep -v -x -F -f <(sed 's|^[0-9a-f]*  |./|' "$WORK/$w.sha256") | head -3 | tr '\n' ' ')"
    return
  fi
  bad=$(cd "$d" && sha256sum --strict -c "$WORK/$w.sha256" 2>&1 | grep -v ': OK$' | head -3 |
    tr '\n' ' ')
  [[ -n $bad ]] && echo "sha256 mismatch or missing: $bad"
}

# one_run WORKLOAD TOOL RUN: runs it once, verifies, writes OUT/WORKLOAD.TOOL.RUN.txt
one_run() {
  local w=$1 t=$2 i=$3 d=$WORK/out/$1.$2.$3 limit=300 cmd rc t0 t1 n0 n1 m0 m1 tf reason
  [[ $w == small ]] && limit=120
  mkdir -p "$d"
  sync
  wait_quiet
  mapfile -t cmd < <(tool_cmd "$w" "$t" "$d")
  tf=$OUT/$w.$t.$i.time
  n0=$(proc_ticks "$NGINX_WORKER")
  m0=$(machine_ticks)
  t0=$(now_ns)
  timeout "$limit" "$TIME" -v -o "$tf" "${PIN_CLIENT[@]}" "${cmd[@]}" >"$OUT/$w.$t.$i.log" 2>&1
  rc=$?
  t1=$(now_ns)
  m1=$(machine_ticks)
  n1=$(proc_ticks "$NGINX_WORKER")
  if ((rc != 0)); then
    reason="exit status $rc"
    ((rc == 124)) && reason="timed out after ${limit}s"
    reason+=" (run $i; see $OUT/$w.$t.$i.log)"
  else
    reason=$(verify "$w" "$d")
    [[ -n $reason ]] && reason="verification failed in run $i: $reason"
  fi
  # Large outputs go at once (they would fill the disk); small ones stay until the workload is
  # done (see "Every run" above).
  [[ $w == large ]] && rm -rf "$d"
  if [[ -n $reason ]]; then
    FAILED[$w:$t]=$reason
    log "$w $t: FAILED: $reason"
    status=1
    return
  fi
  awk -v t0="$t0" -v t1="$t1" -v n0="$n0" -v n1="$n1" -v m0="$m0" -v m1="$m1" -v hz="$HZ" '
    /User time \(seconds\)/ { user = $NF }
    /System time \(seconds\)/ { sys = $NF }
    /Maximum resident set size/ { rss = $NF }
    /Elapsed \(wall clock\)/ {
      n = split($NF, p, ":"); e = 0
      for (k = 1; k <= n; k++) e = e * 60 + p[k]
    }
    END {
      wall = (t1 - t0) / 1e9
      ngx = (n1 - n0) / hz
      other = (m1 - m0) / hz - user - sys - ngx
      if (other < 0) other = 0
      printf "wall %.4f\nelapsed %.2f\ncpu %.2f\nrss_mib %.1f\nnginx_cpu %.2f\nother_pct %d\n",
        wall, e, user + sys, rss / 1024, ngx, (wall > 0 ? other / wall * 100 + 0.5 : 0)
    }' "$tf" >"$OUT/$w.$t.$i.txt"
  log "$w $t run $i: $(tr '\n' ' ' <"$OUT/$w.$t.$i.txt")"
}

# ---- the runs ------------------------------------------------------------------------------------
for w in "${WORKLOADS[@]}"; do
  runs=$RUNS_SMALL
  [[ $w == large ]] && runs=$RUNS_LARGE
  active=()
  for t in "${TOOLS[@]}"; do [[ -n ${HAVE[$t]:-} ]] && active+=("$t"); done
  for ((i = 1; i <= runs; i++)); do
    n=${#active[@]}
    for ((k = 0; k < n; k++)); do
      t=${active[$(((k + i - 1) % n))]}
      [[ -n ${FAILED[$w:$t]:-} ]] && continue
      one_run "$w" "$t" "$i"
    done
  done
  rm -rf "$WORK/out"
done

# ---- the tables ----------------------------------------------------------------------------------
median() {  # median WORKLOAD TOOL KEY -> the median over the runs ("" if none)
  cat "$OUT/$1.$2".*.txt 2>/dev/null | awk -v k="$3" '$1 == k { print $2 }' | sort -g |
    awk '{ v[NR] = $1 }
         END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
range() {  # range WORKLOAD TOOL KEY -> "min-max"
  cat "$OUT/$1.$2".*.txt 2>/dev/null | awk -v k="$3" '$1 == k { print $2 }' | sort -g |
    awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR) printf "%.3f-%.3f", lo, hi }'
}
fmt() { awk -v v="$1" -v f="$2" 'BEGIN { if (v == "") print "n/a"; else printf f, v }'; }
less() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
ratio() {  # ratio A B -> "1.23x" or n/a
  awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b > 0) printf "%.2fx", a / b; else print "n/a" }'
}

report() {
  local w t wall g title runs
  echo "## gevget downloads: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo
  echo "host: $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo))," \
       "$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)," \
       "load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "server: $("$NGINX" -v 2>&1 | sed 's/.*: //'), 1 worker, sendfile, on cpu ${SCPU:-any};" \
       "clients on cpu ${CCPU:-any} (${PIN_CLIENT[*]:-unpinned}); files from the page cache;" \
       "outputs written to $TMPBASE ($(findmnt -n -o FSTYPE -T "$WORK" 2>/dev/null || echo ?))"
  for w in small large; do
    if [[ $w == small ]]; then
      [[ ${GEV_DL_SMALL:-1} == 0 ]] && continue
      title="$SMALL_COUNT x $SMALL_KB KiB files, 50 at once"
      runs=$RUNS_SMALL
    else
      [[ ${GEV_DL_LARGE:-1} == 0 ]] && continue
      title="$LARGE_COUNT x $LARGE_MB MiB files, best flags"
      runs=$RUNS_LARGE
      if [[ -n ${LARGE_SKIPPED:-} ]]; then
        echo
        echo "### $title: $LARGE_SKIPPED"
        continue
      fi
    fi
    echo
    echo "### $title (median of $runs runs)"
    echo
    echo "| tool | wall s | wall min-max | CPU s (user+sys) | peak RSS MiB | nginx CPU s |" \
         "other CPU | wall vs gevget |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    g=$(median "$w" gevget wall)
    local best="" bestwall=""
    for t in "${TOOLS[@]}"; do
      if [[ -z ${HAVE[$t]:-} ]]; then
        echo "| $t | n/a | | | | | | |"
        continue
      fi
      if [[ -n ${FAILED[$w:$t]:-} ]]; then
        echo "| $t | FAILED | | | | | | |"
        continue
      fi
      wall=$(median "$w" "$t" wall)
      if [[ -n $wall ]] && { [[ -z $bestwall ]] || less "$wall" "$bestwall"; }; then
        best=$t bestwall=$wall
      fi
      echo "| $t | $(fmt "$wall" %.3f) | $(range "$w" "$t" wall)" \
           "| $(fmt "$(median "$w" "$t" cpu)" %.2f) | $(fmt "$(median "$w" "$t" rss_mib)" %.1f)" \
           "| $(fmt "$(median "$w" "$t" nginx_cpu)" %.2f)" \
           "| $(fmt "$(median "$w" "$t" other_pct)" '%d%%') | $(ratio "$wall" "$g") |"
    done
    echo
    if [[ -n $best ]]; then
      if [[ $best == gevget ]]; then
        echo "fastest: gevget"
      else
        echo "fastest: $best ($(fmt "$bestwall" %.3f) s)${g:+; gevget $(fmt "$g" %.3f) s}"
      fi
    fi
    for t in "${TOOLS[@]}"; do
      [[ -n ${FAILED[$w:$t]:-} ]] && echo "- $t FAILED: ${FAILED[$w:$t]}"
    done
    echo
    echo '```'
    for t in "${TOOLS[@]}"; do
      [[ -n ${HAVE[$t]:-} ]] || continue
      tool_cmd "$w" "$t" OUT | sed "s|$WORK/|\$TMP/|g" | paste -sd' ' - | sed 's/^/  /'
    done
    echo '```'
  done
  echo
  echo "wall: the script's clock around \`timeout T /usr/bin/time -v taskset -c CPU TOOL\`;" \
       "CPU and peak RSS: /usr/bin/time -v (user+sys, Maximum resident set size); nginx CPU:" \
       "its worker over the run; other CPU: every other process on the machine, % of one core" \
       "(high: the run shared the machine). wall vs gevget: the tool's wall over gevget's." \
       "Every run's files verified (count + sha256)."
  echo
  echo "versions:"
  echo
  for t in "${TOOLS[@]}"; do
    [[ -n ${HAVE[$t]:-} ]] && echo "- $t: ${VERSION[$t]}"
  done
  echo "- nginx: $("$NGINX" -v 2>&1 | sed 's/.*: //')"
}

report | tee "$RESULTS"
echo
echo "markdown: $RESULTS   raw outputs: $OUT/"
exit $status
