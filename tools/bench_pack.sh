#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Packs what the capture bench needs into one folder, for a machine with
# no compiler and no packages (the 16-core one: shared/bench/16-core.md):
# servetrace builds, nginx, wrk, the bench's helpers, bpftool and perf
# where present, and the shared libraries they load that are not glibc's
# own (a newer glibc there runs binaries built here). Writes env.sh, which
# points tools/bench_capture.sh and tools/bench_ab.sh at them.
set -euo pipefail

usage() {
	cat <<EOF
Usage: tools/bench_pack.sh [--dir DIR] [--no-perf] [NAME=BINARY ...]

  --dir DIR      the folder (default .devbench; git ignores it, so it travels
                 to the device only when named in 'carry')
  --no-perf      leave perf out (it and its libraries are about 25 MiB)
  NAME=BINARY    a servetrace build to carry as DIR/NAME (several for an A/B
                 run with tools/bench_ab.sh); default: servetrace=./servetrace
  -h, --help     this text

Then, on the other machine, from the checkout:
  . DIR/env.sh
  tools/bench_capture.sh --layout16 --bpf-stats --floor
  tools/bench_ab.sh --rounds 4 -- --layout16 -- DIR/old DIR/new
EOF
}

DIR=.devbench PERF=1 BUILDS=()
while [ $# -gt 0 ]; do
	case $1 in
	--dir) DIR=$2; shift ;;
	--no-perf) PERF=0 ;;
	-h|--help) usage; exit 0 ;;
	*=*) BUILDS+=("$1") ;;
	*) echo "bench_pack: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
die() { echo "bench_pack: $*" >&2; exit 1; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
[ ${#BUILDS[@]} -gt 0 ] || BUILDS=(servetrace=./servetrace)
[ -x tools/bench/sse_upstream ] && [ -x tools/bench/tp_floor ] || die "run 'make tools' first"
mkdir -p "$DIR/lib"
chmod 700 "$DIR"

bins=()
for b in "${BUILDS[@]}"; do
	name=${b%%=*} src=${b#*=}
	case $name in ""|*/*) die "bad build name '$name'" ;; esac
	[ ${#name} -le 15 ] || die "'$name': 15 characters at most (the comm perf and pgrep see)"
	[ -x "$src" ] || die "no executable '$src' (run 'make')"
	cp "$src" "$DIR/$name"
	bins+=("$DIR/$name")
done
for t in nginx wrk bpftool; do
	p=$(command -v "$t" || true)
	[ -n "$p" ] || die "no $t here (tools/install_deps.sh)"
	cp -L "$p" "$DIR/$t"
	bins+=("$DIR/$t")
done
cp tools/bench/sse_upstream tools/bench/tp_floor "$DIR/"
bins+=("$DIR/sse_upstream" "$DIR/tp_floor")
if [ "$PERF" = 1 ] && p=$(command -v perf); then
	cp -L "$p" "$DIR/perf"
	bins+=("$DIR/perf")
fi

# glibc's own libraries stay the other machine's
n=0
for lib in $(ldd "${bins[@]}" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u); do
	case $(basename "$lib") in
	libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|ld-linux*|libgcc_s.so.*|libstdc++.so.*) continue ;;
	esac
	cp -L "$lib" "$DIR/lib/"
	n=$((n + 1))
done

cat > "$DIR/env.sh" <<'EOF'
# Sourced: the packed binaries for tools/bench_capture.sh and bench_ab.sh.
_d=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export LD_LIBRARY_PATH=$_d/lib NGINX_BIN=$_d/nginx WRK=$_d/wrk \
	SSE_UPSTREAM=$_d/sse_upstream TP_FLOOR=$_d/tp_floor PATH=$_d:$PATH
[ -e "$_d/servetrace" ] && export SERVETRACE=$_d/servetrace
mountpoint -q /sys/kernel/tracing 2>/dev/null || mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true
unset _d
EOF
echo "bench_pack: $DIR: ${#bins[@]} binaries, $n libraries, $(du -sh "$DIR" | cut -f1)" >&2
