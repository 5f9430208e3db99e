# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Prints the table of tools/bench_tracer.sh from its results.tsv (a header,
# then one line per phase). Variables: cores conns threads pconns pdelay dur
# pdur rounds same rlog.

function add(k, name, v) { val[k, name, ++cnt[k, name]] = v }
function m(k, name,    i, s) { for (i = 1; i <= cnt[k, name]; i++) s += val[k, name, i]; return cnt[k, name] ? s / cnt[k, name] : 0 }
function med(k, name,    n, i, j, t, b) {
	n = cnt[k, name]
	for (i = 1; i <= n; i++) b[i] = val[k, name, i]
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && b[j - 1] > b[j]; j--) { t = b[j]; b[j] = b[j - 1]; b[j - 1] = t }
	return n % 2 ? b[(n + 1) / 2] : (b[n / 2] + b[n / 2 + 1]) / 2
}
function lo(k, name,    i, x) { x = val[k, name, 1]; for (i = 2; i <= cnt[k, name]; i++) if (val[k, name, i] < x) x = val[k, name, i]; return x }
function hi(k, name,    i, x) { x = val[k, name, 1]; for (i = 2; i <= cnt[k, name]; i++) if (val[k, name, i] > x) x = val[k, name, i]; return x }

NR == 1 { next }
{
	kind = $1; mode = $2; k = kind SUBSEP mode
	line[++nl] = $0
	seen[kind] = 1
	add(k, "rps", $4); add(k, "p50", $5); add(k, "p99", $6); add(k, "app", $9); add(k, "other", $10)
	failed[kind] += $8
	if ($10 > busiest) busiest = $10
	if (mode != "traced")
		next
	add(k, "cpu", $11); add(k, "rss", $13); add(k, "ev", $14)
	if ($12 != "-") add(k, "bpf", $12)
	drops[kind] += $15; rows[kind] += $16; tagged[kind] += $17; ok[kind] += $18; wrkreqs[kind] += $7
	# a traced phase follows the baseline of its round
	base = val[kind, "base", "rps", cnt[kind, "base", "rps"]]
	if (base > 0) add(kind, "ratio", $4 / base)
}
END {
	printf "\nservetrace overhead: sglang-router (round_robin, --log-level %s) -> 2 nginx upstreams (canned /generate)\n", rlog
	printf "load: wrk -t%d -c%d, %d s phases at saturation; paced: wrk -t1 -c%d pausing %d ms per request, %d s phases;\n",
		threads, conns, dur, pconns, pdelay, pdur
	printf "%d round(s) of baseline then traced; %s prompts.\n", rounds, same ? "identical" : "distinct"
	printf "NOTE: %d CPUs, shared by wrk, the router, both nginx and servetrace, and by whatever else runs\n", cores
	printf "here (column 'other', in cores). Absolute numbers are this machine's; the ratios are the result.\n\n"

	fmt = "%-6s %-6s %2s %7s %6s %6s %5s %6s %5s %5s %6s %5s %8s %5s %7s %7s %7s\n"
	printf fmt, "load", "mode", "r", "req/s", "p50us", "p99us", "fail", "app_us", "other", "cpu%",
		"bpf_us", "rss", "events/s", "drops", "wrk_req", "rows", "tagged"
	for (i = 1; i <= nl; i++) {
		split(line[i], f, "\t")
		printf fmt, f[1], f[2], f[3], f[4], f[5], f[6], f[8], f[9], f[10], f[11], f[12], f[13], f[14],
			f[15], f[7], f[16], f[17]
	}
	print ""
	print "app_us: router + nginx CPU (user+sys, the BPF programs they trigger included) per request."
	print "cpu%: servetrace user+sys from attach to 1 s after wrk stopped, over the phase, % of one core."
	print "bpf_us: run time of servetrace's BPF programs per request (--bpf-stats). rss: servetrace VmHWM, MiB."
	print "rows: rows servetrace wrote; tagged: rows with this phase's x-request-id. wrk does not count the"
	print "requests in flight when it stops (up to one per connection); servetrace does."

	order[1] = "sat"; order[2] = "paced"
	for (o = 1; o <= 2; o++) {
		kind = order[o]
		if (!(kind in seen))
			continue
		b = kind SUBSEP "base"; t = kind SUBSEP "traced"
		printf "\n== %s ==\n", kind == "sat" ? "saturation" : "paced, below saturation (per-request latency)"
		printf "%-34s %10s %10s %22s   %s\n", "", "baseline", "traced", "traced vs baseline", "target"
		if (!cnt[t, "rps"]) {
			printf "%-34s %10.0f   (no traced phases: --no-trace)\n", "throughput, req/s (mean)", m(b, "rps")
			continue
		}
		r = m(kind, "ratio")
		printf "%-34s %10.0f %10.0f %14.3f (%+5.1f%%)   %s\n", "throughput, req/s (mean)",
			m(b, "rps"), m(t, "rps"), r, 100 * (r - 1), kind == "sat" ? "loss <= 1%" : "(paced: follows latency)"
		printf "%-34s %10s %10s %13.3f .. %.3f\n", "  ratio in each round, min .. max", "", "", lo(kind, "ratio"), hi(kind, "ratio")
		printf "%-34s %10.0f %10.0f %+19d us   %s\n", "latency p50, us (median)", med(b, "p50"), med(t, "p50"),
			med(t, "p50") - med(b, "p50"), kind == "sat" ? "(queueing: see paced)" : "added p50 <= 10 us"
		printf "%-34s %10.0f %10.0f %+19d us\n", "latency p99, us (median)", med(b, "p99"), med(t, "p99"),
			med(t, "p99") - med(b, "p99")
		printf "%-34s %10.1f %10.1f %+19.1f us\n", "router+nginx CPU per request, us", m(b, "app"), m(t, "app"),
			m(t, "app") - m(b, "app")
		if (cnt[t, "bpf"])
			printf "%-34s %10s %10.1f\n", "  of which BPF programs, us", "", m(t, "bpf")
		printf "%-34s %10s %10.1f\n", "servetrace CPU, % of one core", "", m(t, "cpu")
		printf "%-34s %10s %10.1f\n", "servetrace max RSS, MiB", "", hi(t, "rss")
		printf "%-34s %10s %10.0f   %.1f per request\n", "kernel events/s", "", m(t, "ev"), m(t, "rps") ? m(t, "ev") / m(t, "rps") : 0
		printf "%-34s %10s %10d   at %.0f req/s%*s0 at 10k req/s\n", "ring-buffer drops", "", drops[kind], m(t, "rps"), 7, ""
		printf "%-34s %10s %10d   tagged %d (%d success), wrk counted %d\n", "rows written (traced phases)", "",
			rows[kind], tagged[kind], ok[kind], wrkreqs[kind]
		printf "%-34s %10.2f %10.2f\n", "other load on the machine, cores", m(b, "other"), m(t, "other")
		if (failed[kind])
			printf "WARNING: %d requests failed (non-2xx or socket errors)\n", failed[kind]
		if (tagged[kind] < wrkreqs[kind])
			printf "WARNING: fewer tagged rows than requests wrk completed: servetrace missed some\n"
	}
	print ""
	if (cnt["sat", "traced", "rps"])
		printf "throughput loss target (<= 1%%): %s on this run.\n", m("sat", "ratio") >= 0.99 ? "met" : "NOT met"
	if (m("sat" SUBSEP "base", "rps") < 10000)
		print "10k req/s: not reached (the baseline saturates below it): drops are given at the rate reached."
	if (busiest > 0.25)
		printf "The machine was busy with other work (up to %.2f cores): ratios are noisy, compare rounds.\n", busiest
	print ""
}
