#!/usr/bin/env bash
# A tour of gevget against gev's own HTTP server (examples/file_server) on 127.0.0.1: several
# URLs at once, a URL list, a split download, the JSON summary, resuming after an interrupted
# run, and the exit status of failures. Every result is checked; any wrong one exits nonzero.
#   examples/gevget_tour.sh GEVGET FILE_SERVER
set -euo pipefail
[[ $# == 2 ]] || { echo "usage: $0 GEVGET FILE_SERVER" >&2; exit 2; }
gevget=$(realpath -- "$1")  # absolute: the script changes directory
file_server=$(realpath -- "$2")

work=$(mktemp -d "${TMPDIR:-/tmp}/gevget-tour.XXXXXX")
server_pid=
cleanup() {
  if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "gevget_tour: FAILED: $*" >&2; exit 1; }
same() { cmp -s "$work/www/$1" "$2" || fail "$2 differs from www/$1"; }

# [serve]
mkdir -p "$work/www"
for i in 1 2 3 4 5; do head -c $((i * 100000)) /dev/urandom > "$work/www/file$i.bin"; done
head -c $((8 * 1024 * 1024)) /dev/urandom > "$work/www/big.iso"
"$file_server" "$work/www" 127.0.0.1 0 > "$work/server.out" &   # port 0: a free port
server_pid=$!
for _ in $(seq 100); do grep -q "^serving" "$work/server.out" && break; sleep 0.05; done
base=$(sed -n 's/^serving on \(http:[^ ]*\).*/\1/p' "$work/server.out")  # http://127.0.0.1:PORT
[[ -n $base ]] || fail "file_server did not start"
# [serve]
cd "$work"

# [several]
# Three URLs, at most 2 at once; the names come from the URLs.
"$gevget" -j 2 -d several "$base/file1.bin" "$base/file2.bin" "$base/file3.bin"
# [several]
for i in 1 2 3; do same "file$i.bin" "several/file$i.bin"; done

# [list]
# A URL list: one per line, optional out=NAME and sha256=HEX; '#' lines are comments.
cat > urls.txt <<LIST
# the tour's list
$base/file4.bin  out=four.bin
$base/file5.bin  sha256=$(sha256sum www/file5.bin | cut -d' ' -f1)
LIST
"$gevget" -q -j 8 -i urls.txt -d list
# [list]
same file4.bin list/four.bin
same file5.bin list/file5.bin

# [split]
# One file over 4 ranged connections (segments of at least 1 MiB), a JSON summary for scripts.
"$gevget" -q -x 4 --min-split-size 1M -d split --json split.json "$base/big.iso"
grep -q '"ok": 1, "failed": 0' split.json || fail "split.json: $(cat split.json)"
# [split]
same big.iso split/big.iso

# [resume]
# Interrupt a (rate-limited) download with SIGINT once 512 KiB are on disk: exit status 130,
# and only big.iso.part (plus its state file) is left, never a truncated big.iso.
"$gevget" -q --limit-rate 2M -d resume "$base/big.iso" &
pid=$!
for _ in $(seq 500); do
  [[ -f resume/big.iso.part && $(stat -c %s resume/big.iso.part) -ge 524288 ]] && break
  kill -0 $pid 2>/dev/null || break  # it ended early: the status check below says how
  sleep 0.02
done
kill -INT $pid
status=0; wait $pid || status=$?
[[ $status == 130 && -f resume/big.iso.part && ! -e resume/big.iso ]] || fail "interrupt: $status"
# -c continues from the bytes on disk (Range + If-Range): this run receives less than the file.
"$gevget" -q -c -d resume --json resume.json "$base/big.iso"
received=$(sed -n 's/.*"bytes": \([0-9]*\), "seconds".*/\1/p' resume.json | head -1)
echo "resumed: this run received $received of $(stat -c %s www/big.iso) bytes"
# [resume]
(( received < 8 * 1024 * 1024 )) || fail "-c downloaded the whole file again"
same big.iso resume/big.iso
[[ -z $(find resume -name '*.part*') ]] || fail "a .part file was left"

# [errors]
# A 404 fails the URL (no retry: only 408, 429, 5xx and network errors are retried): status 1.
status=0; "$gevget" -q -d errors "$base/missing.bin" || status=$?
[[ $status == 1 && ! -e errors/missing.bin ]] || fail "404: status $status"
# A wrong checksum: the .part is deleted, status 5.
status=0; "$gevget" -q -d errors --checksum sha256="$(printf '%064d' 0)" "$base/file1.bin" || status=$?
[[ $status == 5 && ! -e errors/file1.bin ]] || fail "checksum: status $status"
# A usage error (-o with several URLs): status 2.
status=0; "$gevget" -q -o x "$base/file1.bin" "$base/file2.bin" 2>/dev/null || status=$?
[[ $status == 2 ]] || fail "usage: status $status"
# An existing file is skipped, not overwritten (wget -nc): status 0.
"$gevget" -q -d several --json skip.json "$base/file1.bin"
grep -q '"skipped": 1' skip.json || fail "skip.json: $(cat skip.json)"
# [errors]
same file1.bin several/file1.bin
echo "gevget_tour: every download verified"
