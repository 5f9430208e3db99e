# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""tools/report: the report rendered in headless Chromium from the CSV of
the committed recording (servetrace --replay), its error table against a
made-up in-band CSV with known offsets, its errors on bad input; the
trace-event checker on the writer's own output and on broken traces.
Run: .venv/bin/python -m pytest tools/report"""
import base64
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import check_trace  # noqa: E402
import report  # noqa: E402

RECORDING = os.path.join(ROOT, "tests/unit/data/router_sglang.strec")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium(tmp, *args):
    exe = shutil.which("chromium")
    if not exe:
        pytest.skip("SKIPPED: Debian chromium not installed (tools/install_deps.sh)")
    res = subprocess.run([exe, *CHROMIUM_FLAGS, "--user-data-dir=" + os.path.join(tmp, "chr"), *args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


def check_rendered(html_path, tmp, want_images):
    """Chromium decodes every image; each PNG is real and not blank."""
    dom = chromium(tmp, "--dump-dom", "file://" + html_path)
    body = re.search(r"<body[^>]*>", dom).group(0)
    assert 'data-images="%d"' % want_images in body, body
    assert 'data-images-ok="%d"' % want_images in body, body
    with open(html_path) as f:
        page = f.read()
    pngs = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(pngs) == want_images
    for b in pngs:
        img = Image.open(io.BytesIO(base64.b64decode(b)))
        assert img.format == "PNG" and img.width > 300 and img.height > 200, img.size
        colors = img.convert("RGB").getcolors(maxcolors=1 << 20)
        assert colors and len(colors) > 10, "blank plot"
    shot = os.path.join(tmp, "shot.png")
    chromium(tmp, "--screenshot=" + shot, "--window-size=1100,1400", "file://" + html_path)
    assert len(Image.open(shot).convert("RGB").getcolors(maxcolors=1 << 20)) > 10


@pytest.fixture(scope="module")
def replay_csv(tmp_path_factory):
    exe = os.path.join(ROOT, "servetrace")
    if not os.path.exists(exe):
        pytest.skip("SKIPPED: servetrace not built (make)")
    out = str(tmp_path_factory.mktemp("replay") / "replay.csv")
    subprocess.run([exe, "--replay", RECORDING, "-o", out], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return out


def test_report_renders_in_chromium(replay_csv, tmp_path):
    out = str(tmp_path / "r.html")
    assert report.main([replay_csv, "-o", out]) == 0
    check_rendered(out, str(tmp_path), 5)


def test_inband_error_table(replay_csv, tmp_path):
    """In-band stamps made from servetrace's own, shifted by known amounts:
    the table must show exactly those errors."""
    with open(replay_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    ib = str(tmp_path / "inband.csv")
    with open(ib, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["req_id", "client_send_time", "request_received_ts", "client_finish_time"])
        for r in rows[::2]:  # half of them: the join must say so
            w.writerow([r["req_id"], "%.6f" % (float(r["arrival_time"]) - 0.002),
                        "%.6f" % (float(r["server_created_time"]) + 0.001), r["finish_time"]])
    out = str(tmp_path / "r.html")
    assert report.main([replay_csv, "--inband", ib, "-o", out]) == 0
    page = open(out).read()
    cells = dict(re.findall(r"<tr><td>(\w+)</td><td>\w+</td><td>\d+</td><td>([-\d.]+)</td>", page))
    # req_ids repeat in this recording (two runs): joined rows count both
    assert abs(float(cells["arrival_time"]) - 2.0) < 0.002, cells
    assert abs(float(cells["server_created_time"]) + 1.0) < 0.002, cells
    assert abs(float(cells["finish_time"])) < 0.002, cells
    assert "24 servetrace rows, 12 in-band rows" in page
    check_rendered(out, str(tmp_path), 5)


@pytest.mark.parametrize("content,msg", [
    (None, "no such file"),
    ("", "empty file"),
    (",".join(report.REQUIRED) + "\n", "header only"),
    ("a,b\n1,2\n", "missing columns"),
])
def test_bad_csv(tmp_path, capsys, content, msg):
    p = str(tmp_path / "x.csv")
    if content is not None:
        open(p, "w").write(content)
    assert report.main([p, "-o", str(tmp_path / "r.html")]) == 1
    assert msg in capsys.readouterr().err
    assert not os.path.exists(str(tmp_path / "r.html"))


def test_help():
    res = subprocess.run([sys.executable, os.path.join(HERE, "report.py"), "--help"],
                         stdout=subprocess.PIPE, text=True)
    assert res.returncode == 0 and "--inband" in res.stdout


def test_checker_on_writer_output(tmp_path):
    """The unit test's trace (tests/unit/test_perfetto.c) passes the checker."""
    tests = os.path.join(ROOT, ".output/unit_tests")
    if not os.path.exists(tests):
        pytest.skip("SKIPPED: make unit first")
    sample = str(tmp_path / "pf.json")
    subprocess.run([tests], cwd=ROOT, env=dict(os.environ, PERFETTO_SAMPLE=sample),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert check_trace.main([sample]) == 0
    # cut after the last complete event, as a kill leaves it: still valid
    text = open(sample).read().rstrip().rstrip("]").rstrip()
    open(sample, "w").write(text)
    assert check_trace.main([sample]) == 0


def ev(ph, **kw):
    e = {"ph": ph, "name": kw.pop("name", "x"), "pid": 1, "tid": 1, "ts": 0}
    e.update(kw)
    return e


@pytest.mark.parametrize("events,needle", [
    ([ev("B", ts=1)], "B without E"),
    ([ev("E", ts=1)], "E without a B"),
    ([ev("B", ts=5), ev("E", ts=3)], "goes back"),
    ([ev("B", name="a", ts=1), ev("E", name="b", ts=2)], "closes B"),
    ([ev("s", id=1, ts=1)], "want one s and one f"),
    ([ev("s", id=1, ts=5), ev("f", id=1, ts=2, bp="e")], "forward in time"),
    ([ev("X", ts=0, dur=10), ev("X", ts=5, dur=10)], "overlaps"),
    ([ev("X", ts="0", dur=1)], "ts must be"),
    ([ev("X", ts=0)], "dur must be"),
    ([ev("X", ts=0, dur=1, pid="1")], "pid must be"),
    ([ev("C", ts=0, args={"v": "x"})], "counter args"),
    ([ev("Q")], "ph missing or unknown"),
])
def test_checker_catches(events, needle):
    errors, _ = check_trace.check(events)
    assert any(needle in e for e in errors), errors


def test_checker_accepts_nesting_and_flows():
    events = [ev("X", ts=0, dur=10), ev("X", ts=0, dur=4), ev("X", ts=4, dur=6), ev("X", ts=10, dur=1),
              ev("B", ts=20), ev("E", ts=21), ev("s", id=7, ts=1), ev("f", id=7, ts=2, bp="e"),
              {"ph": "M", "name": "process_name", "pid": 1, "args": {"name": "p"}},
              {"ph": "C", "name": "c", "pid": 1, "ts": 3, "args": {"value": 2}}]
    errors, counts = check_trace.check(events)
    assert errors == [] and counts["X"] == 4


def test_checker_unreadable(tmp_path):
    p = str(tmp_path / "t.json")
    open(p, "w").write('{"not": "a trace"}')
    assert check_trace.main([p]) == 2
    json.dump([ev("X", ts=0, dur=1)], open(p, "w"))
    assert check_trace.main(["-q", p]) == 0
