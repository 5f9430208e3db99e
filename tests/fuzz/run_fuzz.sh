#!/bin/bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Runs each harness: first the inputs of past crashes (regress/<name>/),
# then FUZZ_SECONDS of fuzzing from the seeds (corpus/<name>/; what the
# run adds goes to <bindir>/corpus/<name>/, the committed seeds stay).
# Prints executions and coverage per harness; fails if any crashed.
# FUZZ_REPLAY_ONLY="NAME...": those only replay regress/ (open findings).
# Usage: run_fuzz.sh BINDIR NAME...   (the binaries run anywhere: copy
# BINDIR and tests/fuzz/ to a machine without a compiler and run this.)
set -u
here=$(cd "$(dirname "$0")" && pwd)
bindir=$1
shift
secs=${FUZZ_SECONDS:-30}
failed=0
summary=()

for name in "$@"; do
	bin=$bindir/fuzz_$name
	log=$bindir/$name.log
	work=$bindir/corpus/$name
	mkdir -p "$work" "$bindir/crashes"
	dict=()
	[ -f "$here/$name.dict" ] && dict=(-dict="$here/$name.dict")
	status=ok
	if [ -d "$here/regress/$name" ] && [ -n "$(ls -A "$here/regress/$name")" ]; then
		if ! "$bin" "${dict[@]}" "$here/regress/$name"/* >"$bindir/$name.regress.log" 2>&1; then
			status="REGRESSION (see $bindir/$name.regress.log)"
		fi
	fi
	if [[ " ${FUZZ_REPLAY_ONLY:-} " == *" $name "* ]]; then
		[ "$status" = ok ] && status="regress replayed; not fuzzed (open findings: tests/fuzz/open/$name/)"
		[[ "$status" == regress* ]] || failed=1
		summary+=("$(printf '%-14s %10s %7s %7s %12s  %s' "$name" - - - - "$status")")
		continue
	fi
	printf '  %-8s %s (%ss)\n' FUZZ "$name" "$secs"
	"$bin" "${dict[@]}" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$bindir/crashes/$name-" \
		"$work" "$here/corpus/$name" >"$log" 2>&1
	rc=$?
	if [ $rc -ne 0 ]; then
		status="CRASH rc=$rc (see $log, $bindir/crashes/)"
	fi
	[ "$status" = ok ] || failed=1
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	last=$(grep -E '^#[0-9]+' "$log" | tail -1)
	cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
	ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
	corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$last")
	summary+=("$(printf '%-14s %10s %7s %7s %12s  %s' "$name" "${execs:-?}" \
		"${cov:-?}" "${ft:-?}" "${corp:-?}" "$status")")
done

printf '\n%-14s %10s %7s %7s %12s  %s\n' harness execs cov ft corpus status
printf '%s\n' "${summary[@]}"
exit $failed
