#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""servetrace CSV (and optionally the in-band CSV of tools/loadgen) -> one
self-contained HTML report: every plot is a PNG embedded as base64.

  report.py servetrace.csv -o report.html
  report.py servetrace.csv --inband inband.csv -o report.html

Plots: a stage waterfall for a sample of requests; the stage breakdown at
p50/p90/p99; latency CDFs (total, TTFT, scheduler queue) per worker;
arrivals, requests in flight and queue time over time; requests per worker
and per status. With --inband: the servetrace-vs-in-band error table,
joined on req_id.
"""
import argparse
import base64
import html
import io
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

# (label, start column, end column), in request order
STAGES = [
    ("router queue", "arrival_time", "router_send_time"),
    ("network", "router_send_time", "server_created_time"),
    ("tokenize", "server_created_time", "queue_time_start"),
    ("scheduler queue", "queue_time_start", "queue_time_end"),
    ("prefill", "queue_time_end", "server_first_token_time"),
    ("decode / stream", "server_first_token_time", "finish_time"),
]
COLORS = ["#8c8c8c", "#1f77b4", "#9467bd", "#d62728", "#ff7f0e", "#2ca02c"]
STAMPS = ["arrival_time", "router_send_time", "server_created_time", "queue_time_start",
          "queue_time_end", "server_first_token_time", "finish_time"]
REQUIRED = ["req_id", "success", "host", "arrival_time", "finish_time", "total_latency"]
# servetrace column = in-band column (tools/loadgen/README.md, compare's defaults)
PAIRS = [("arrival_time", "client_send_time"), ("server_created_time", "request_received_ts"),
         ("queue_time_start", "queue_time_start"), ("queue_time_end", "forward_entry_time"),
         ("server_first_token_time", "prefill_finished_time"), ("finish_time", "client_finish_time"),
         ("total_latency", "total_latency"), ("ttft", "ttft"), ("tokenize_time", "tokenize_time"),
         ("pure_queue_time", "queue_time")]


class ReportError(Exception):
    pass


def read_csv(path, what, required):
    try:
        df = pd.read_csv(path, dtype={"req_id": str, "host": str, "error": str})
    except FileNotFoundError:
        raise ReportError("%s CSV %s: no such file" % (what, path))
    except pd.errors.EmptyDataError:
        raise ReportError("%s CSV %s: empty file (no header)" % (what, path))
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise ReportError("%s CSV %s: not a CSV: %s" % (what, path, str(e).splitlines()[0]))
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ReportError("%s CSV %s: missing columns %s (is it a %s CSV?)"
                          % (what, path, ", ".join(missing), what))
    if df.empty:
        raise ReportError("%s CSV %s: header only, no requests" % (what, path))
    return df


def prepare(df):
    for c in STAMPS + ["total_latency", "ttft", "pure_queue_time", "status"]:
        if c in df.columns:
            df[c] = pd.to_numeric(df[c], errors="coerce")
        else:
            df[c] = np.nan
    df["host"] = df["host"].fillna("(none)")
    df["success"] = df["success"].astype(str).str.lower().isin(["true", "1"])
    t0 = df["arrival_time"].min()
    if not np.isfinite(t0):
        raise ReportError("no arrival_time in any row")
    df["t"] = df["arrival_time"] - t0
    for label, a, b in STAGES:
        df[label] = (df[b] - df[a]).where(lambda s: s >= 0)
    return df, t0


def png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def fig_waterfall(df, sample):
    d = df.dropna(subset=["arrival_time"]).sort_values("arrival_time")
    if len(d) > sample:
        d = d.iloc[np.linspace(0, len(d) - 1, sample).astype(int)]
    fig, ax = plt.subplots(figsize=(11, 0.28 * len(d) + 1.5))
    for y, (_, r) in enumerate(d.iterrows()):
        t0 = r["arrival_time"]
        for (label, a, b), col in zip(STAGES, COLORS):
            if np.isfinite(r[a]) and np.isfinite(r[b]) and r[b] >= r[a]:
                ax.barh(y, (r[b] - r[a]) * 1e3, left=(r[a] - t0) * 1e3, color=col, height=0.7)
        # no first token seen (not streamed): prefill and decode as one
        a, b = r["queue_time_end"], r["finish_time"]
        if not np.isfinite(r["server_first_token_time"]) and np.isfinite(a) and np.isfinite(b) and b >= a:
            ax.barh(y, (b - a) * 1e3, left=(a - t0) * 1e3, color="#bcbd22", height=0.7)
    ax.set_yticks(range(len(d)))
    ax.set_yticklabels(["%s  +%.2fs" % (i, t) for i, t in zip(d["req_id"], d["t"])], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("ms since the request's arrival (label: its arrival after the first)")
    ax.set_title("Stage waterfall (%d of %d requests)" % (len(d), len(df)))
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in COLORS + ["#bcbd22"]]
    ax.legend(handles, [s[0] for s in STAGES] + ["prefill + decode\n(no first token seen)"], loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    return fig


def fig_breakdown(df):
    qs = [50, 90, 99]
    fig, ax = plt.subplots(figsize=(7, 4))
    bottom = np.zeros(len(qs))
    for (label, _, _), col in zip(STAGES, COLORS):
        v = df[label].dropna()
        vals = np.array([np.percentile(v, q) * 1e3 if len(v) else 0 for q in qs])
        ax.bar(["p%d" % q for q in qs], vals, bottom=bottom, color=col, label=label)
        bottom += vals
    ax.set_ylabel("ms (each stage at that percentile)")
    ax.set_title("Stage breakdown")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    return fig


def fig_cdfs(df):
    cols = [("total_latency", "total latency"), ("ttft", "TTFT"), ("pure_queue_time", "scheduler queue")]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, (c, title) in zip(axes, cols):
        for host, g in df.groupby("host"):
            v = np.sort(g[c].dropna().to_numpy()) * 1e3
            if len(v):
                ax.step(v, np.arange(1, len(v) + 1) / len(v), where="post", label=host)
        ax.set_title(title + " CDF")
        ax.set_xlabel("ms")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "no values", ha="center", transform=ax.transAxes)
    axes[0].set_ylabel("fraction of requests")
    return fig


def fig_over_time(df):
    fig, axes = plt.subplots(3, 1, figsize=(11, 7.5), sharex=True)
    span = max(float(np.nanmax(df["finish_time"] - df["arrival_time"].min())), 1e-3)
    width = max(span / 60, 0.01)
    bins = np.arange(0, span + width, width)
    axes[0].hist(df["t"].dropna(), bins=bins, color="#1f77b4")
    axes[0].set_ylabel("arrivals / %.2f s" % width)
    t0 = df["arrival_time"].min()
    ev = pd.concat([pd.DataFrame({"t": df["arrival_time"] - t0, "d": 1}),
                    pd.DataFrame({"t": df["finish_time"] - t0, "d": -1})]).dropna()
    ev = ev.sort_values(["t", "d"])
    axes[1].step(ev["t"], ev["d"].cumsum(), where="post", color="#d62728")
    axes[1].set_ylabel("in flight")
    q = df.dropna(subset=["pure_queue_time"])
    axes[2].plot(q["t"], q["pure_queue_time"] * 1e3, ".", color="#ff7f0e", label="scheduler queue")
    axes[2].plot(df["t"], df["total_latency"] * 1e3, ".", alpha=0.4, color="#2ca02c", label="total")
    axes[2].set_ylabel("ms")
    axes[2].set_xlabel("s since the first arrival")
    axes[2].legend(fontsize=8)
    axes[0].set_title("Load over time")
    return fig


def fig_counts(df):
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    per_host = df["host"].value_counts().sort_index()
    axes[0].bar(per_host.index, per_host.values, color="#1f77b4")
    axes[0].set_title("requests per worker")
    axes[0].tick_params(axis="x", rotation=20, labelsize=8)
    status = df.apply(lambda r: ("%d" % r["status"] if np.isfinite(r["status"]) else "none")
                      + (" ok" if r["success"] else " failed"), axis=1).value_counts().sort_index()
    axes[1].bar(status.index, status.values, color=["#2ca02c" if s.endswith(" ok") else "#d62728"
                                                    for s in status.index])
    axes[1].set_title("requests per status")
    return fig


def error_table(df, inband_path):
    ib = read_csv(inband_path, "in-band", ["req_id"])
    ib = ib.drop_duplicates("req_id")
    j = df.merge(ib, on="req_id", how="inner", suffixes=("", "_ib"))
    rows = []
    for tc, ic in PAIRS:
        icol = ic + "_ib" if ic + "_ib" in j.columns else ic
        if tc not in j.columns or icol not in j.columns:
            continue
        e = (pd.to_numeric(j[tc], errors="coerce") - pd.to_numeric(j[icol], errors="coerce")).dropna() * 1e3
        if not len(e):
            rows.append((tc, ic, 0, "", "", "", "", "", ""))
            continue
        rows.append((tc, ic, len(e), "%.3f" % e.mean(), "%.3f" % e.median(), "%.3f" % e.quantile(0.95),
                     "%.3f" % e.quantile(0.99), "%.3f" % e.abs().max(), ""))
    head = ("servetrace", "in-band", "n", "mean ms", "p50 ms", "p95 ms", "p99 ms", "max |err| ms")
    out = ["<table><tr>" + "".join("<th>%s</th>" % h for h in head) + "</tr>"]
    for r in rows:
        out.append("<tr>" + "".join("<td>%s</td>" % html.escape(str(x)) for x in r[:8]) + "</tr>")
    out.append("</table>")
    note = ("<p>%d servetrace rows, %d in-band rows, %d joined on req_id. Error = servetrace "
            "&minus; in-band.</p>" % (len(df), len(ib), len(j)))
    return note + "\n".join(out)


PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}} img{{max-width:100%;display:block;margin:1em 0}}
table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}</style>
</head><body>
<h1>{title}</h1>
{summary}
{sections}
<script>
// Marks how many plots the browser decoded (the report's render test reads it).
window.addEventListener("load", function () {{
  var imgs = document.images, ok = 0;
  for (var i = 0; i < imgs.length; i++) {{
    imgs[i].setAttribute("data-width", imgs[i].naturalWidth);
    if (imgs[i].complete && imgs[i].naturalWidth > 0) ok++;
  }}
  document.body.setAttribute("data-images", imgs.length);
  document.body.setAttribute("data-images-ok", ok);
}});
</script>
</body></html>
"""


def summary(df, t0, path):
    tl = df["total_latency"].dropna()
    span = np.nanmax(df["finish_time"]) - t0
    items = [("file", path), ("requests", len(df)), ("succeeded", int(df["success"].sum())),
             ("workers", df["host"].nunique()), ("span", "%.3f s" % span),
             ("total latency p50 / p99", "%.1f / %.1f ms" % (tl.quantile(0.5) * 1e3, tl.quantile(0.99) * 1e3)
              if len(tl) else "n/a")]
    return "<table>" + "".join("<tr><th>%s</th><td>%s</td></tr>" % (html.escape(str(k)), html.escape(str(v)))
                               for k, v in items) + "</table>"


def build(csv_path, inband=None, sample=40, title="servetrace report"):
    df = read_csv(csv_path, "servetrace", REQUIRED)
    df, t0 = prepare(df)
    figs = [("waterfall", "Stage waterfall", fig_waterfall(df, sample)),
            ("breakdown", "Stage breakdown at p50 / p90 / p99", fig_breakdown(df)),
            ("cdfs", "Latency CDFs per worker", fig_cdfs(df)),
            ("over-time", "Arrivals, in flight and queue time over time", fig_over_time(df)),
            ("counts", "Requests per worker and per status", fig_counts(df))]
    sections = []
    for fid, h, fig in figs:
        sections.append('<h2>%s</h2>\n<img id="%s" alt="%s" src="data:image/png;base64,%s">'
                        % (h, fid, h, png(fig)))
    if inband:
        sections.append("<h2>servetrace vs in-band</h2>\n" + error_table(df, inband))
    return PAGE.format(title=html.escape(title), summary=summary(df, t0, csv_path),
                       sections="\n".join(sections))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv", help="servetrace CSV (-o of servetrace)")
    ap.add_argument("--inband", help="in-band CSV of tools/loadgen (--output-csv), joined on req_id")
    ap.add_argument("-o", "--output", default="report.html", help="HTML file to write (default report.html)")
    ap.add_argument("--sample", type=int, default=40, help="requests in the waterfall (default 40)")
    ap.add_argument("--title", default="servetrace report")
    a = ap.parse_args(argv)
    try:
        page = build(a.csv, a.inband, a.sample, a.title)
    except ReportError as e:
        print("report: " + str(e), file=sys.stderr)
        return 1
    # private to its user, never written through a planted symlink
    try:
        fd = os.open(a.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as e:
        print("report: cannot write %s: %s" % (a.output, e.strerror), file=sys.stderr)
        return 1
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(page)
    print(a.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
