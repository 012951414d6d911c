#!/usr/bin/env bash
# `make demo`: gev's HTTP server (examples/file_server) serves generated files on loopback and
# gevget downloads them concurrently with its progress display. The first run is interrupted
# with SIGINT halfway; `gevget -c` then resumes the .part files, and every file is checked
# byte for byte (sha256) against its source.
#   scripts/demo.sh BUILD_DIR
set -euo pipefail
build=${1:-build}
gevget=$build/tools/gevget/gevget
server=$build/examples/file_server
[[ -x $gevget && -x $server ]] || { echo "demo: build first (make demo does)" >&2; exit 1; }

work=$(mktemp -d /tmp/gev-demo.XXXXXX)
server_pid=
cleanup() {
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# 200 small files (1 KiB .. 256 KiB) and 4 large ones; smaller when the disk is short.
large_mib=${GEV_DEMO_LARGE_MIB:-64}
free_mib=$(df -Pm "$work" | awk 'NR==2 {print $4}')
(( free_mib < 2048 && large_mib > 8 )) && large_mib=8
mkdir -p "$work/www"
echo "demo: generating 200 small files and 4 x ${large_mib} MiB in $work/www"
for i in $(seq -w 1 200); do
  head -c $(( (RANDOM % 256 + 1) * 1024 )) /dev/urandom > "$work/www/file$i.bin"
done
for i in 1 2 3 4; do
  head -c $(( large_mib * 1024 * 1024 )) /dev/urandom > "$work/www/big$i.iso"
done

"$server" "$work/www" 127.0.0.1 0 > "$work/server.out" &
server_pid=$!
for _ in $(seq 100); do grep -q "serving" "$work/server.out" 2>/dev/null && break; sleep 0.05; done
base=$(sed -n 's/^serving on \(http:[^ ]*\).*/\1/p' "$work/server.out")
[[ -n $base ]] || { echo "demo: the file server did not start" >&2; exit 1; }
echo "demo: $(cat "$work/server.out")"
(cd "$work/www" && find . -type f | sed "s|^\./|$base/|") | sort > "$work/urls.txt"

echo
echo "demo: gevget -j 16 -x 4 -i urls.txt -d out --limit-rate 100M   (rate-limited so you can"
echo "      watch; interrupted with SIGINT after 2 s to show that nothing is lost)"
set +e
timeout --preserve-status -s INT 2 "$gevget" -j 16 -x 4 -i "$work/urls.txt" -d "$work/out" --limit-rate 100M
status=$?
set -e
echo "demo: gevget exited with $status (130: interrupted by SIGINT); the unfinished files are"
echo "      .part files: $(find "$work/out" -name '*.part' | wc -l) of them, no truncated file under a final name"

echo
echo "demo: gevget -c (resume), at full speed"
"$gevget" -c -j 16 -x 4 -i "$work/urls.txt" -d "$work/out" --json "$work/summary.json"

echo
(cd "$work/www" && find . -type f | sort | xargs sha256sum) > "$work/sums"
if (cd "$work/out" && sha256sum --quiet -c "$work/sums" | sed 's|^\./||' | sed -n '1,5p'; exit "${PIPESTATUS[0]}"); then
  n=$(wc -l < "$work/sums")
  bytes=$(du -sb "$work/www" | cut -f1)
  echo "demo: verified: all $n files are identical to their sources (sha256, $(( bytes / 1048576 )) MiB)"
  echo "demo: leftover .part files: $(find "$work/out" -name '*.part*' | wc -l)"
else
  echo "demo: VERIFICATION FAILED" >&2
  exit 1
fi
