#!/bin/bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# A long fuzzing campaign: every harness at once, each in libFuzzer's fork
# mode with WORKERS processes for SECONDS, sharing one corpus per harness.
# Crashes do not stop a harness (-ignore_crashes=1): each is saved under
# OUTDIR/crashes/ and counted, so one run reports them all. Prints, per
# harness: core-hours spent, executions, coverage, features, corpus size,
# crashes/timeouts/OOMs. Exits 1 if anything crashed.
# The binaries need no compiler: build with `make fuzz-build` and copy
# .output/fuzz/ (plus libcjson/libmicrohttpd if the machine lacks them)
# and tests/fuzz/ to the big machine. A corpus left in OUTDIR/corpus by an
# earlier run is continued, so a campaign can be split over several runs.
# A NAME may carry its own worker count, NAME:W, to share a machine's
# cores unevenly (core-hours are reported per harness).
#   tests/fuzz/campaign.sh BINDIR SECONDS WORKERS OUTDIR [NAME[:W]...]
#   make fuzz-campaign FUZZ_CAMPAIGN_SECONDS=3600 FUZZ_WORKERS=1
set -u
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 4 ] || { sed -n '3,17p' "$0" >&2; exit 2; }
bindir=$1 secs=$2 workers=$3 out=$4
shift 4
names=("$@")
[ ${#names[@]} -gt 0 ] ||
	names=($(cd "$bindir" && ls fuzz_* | grep -v '\.' | sed 's/^fuzz_//'))
mkdir -p "$out/crashes" "$out/logs"

pids=()
declare -A nworkers
for i in "${!names[@]}"; do
	n=${names[$i]}
	names[$i]=${n%%:*}
	nworkers[${n%%:*}]=$workers
	[ "$n" != "${n#*:}" ] && nworkers[${n%%:*}]=${n#*:}
done
for name in "${names[@]}"; do
	bin=$bindir/fuzz_$name
	[ -x "$bin" ] || { echo "campaign: no harness $bin" >&2; exit 2; }
	mkdir -p "$out/corpus/$name"
	dict=()
	[ -f "$here/$name.dict" ] && dict=(-dict="$here/$name.dict")
	# past crashes first: a regression stops nothing but is reported
	if [ -d "$here/regress/$name" ] && [ -n "$(ls -A "$here/regress/$name")" ]; then
		"$bin" "${dict[@]}" "$here/regress/$name"/* >"$out/logs/$name.regress.log" 2>&1 ||
			echo "campaign: $name: REGRESSION, see $out/logs/$name.regress.log" >&2
	fi
	"$bin" "${dict[@]}" -fork="${nworkers[$name]}" -ignore_crashes=1 -max_total_time="$secs" \
		-timeout=10 -rss_limit_mb=2048 -artifact_prefix="$out/crashes/$name-" \
		"$out/corpus/$name" "$here/corpus/$name" >"$out/logs/$name.log" 2>&1 &
	pids+=($!)
done
echo "campaign: ${#names[@]} harnesses for ${secs}s" >&2
for p in "${pids[@]}"; do wait "$p"; done

crashed=0
printf '%-14s %9s %12s %7s %7s %8s %s\n' harness core-h execs cov ft corpus 'crash/timeout/oom'
for name in "${names[@]}"; do
	log=$out/logs/$name.log
	# fork mode's status lines: #EXECS: cov: C ft: F corp: N exec/s: E
	#   oom/timeout/crash: O/T/C time: Ss job: J dft_time: D
	last=$(grep -E '^#[0-9]+: cov:' "$log" | tail -1)
	execs=$(sed -n 's/^#\([0-9]*\):.*/\1/p' <<<"$last")
	cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
	ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
	corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
	otc=$(sed -n 's/.* oom\/timeout\/crash: \([0-9\/]*\).*/\1/p' <<<"$last")
	t=$(sed -n 's/.* time: \([0-9]*\)s.*/\1/p' <<<"$last")
	ncrash=$(ls "$out/crashes" | grep -c "^$name-crash-" || true)
	[ "${ncrash:-0}" -gt 0 ] && crashed=1
	printf '%-14s %9s %12s %7s %7s %8s %s (%s crash files)\n' "$name" \
		"$(awk -v t="${t:-0}" -v w="${nworkers[$name]}" 'BEGIN { printf "%.2f", t * w / 3600 }')" \
		"${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "${otc:-?}" "$ncrash"
done
exit $crashed
