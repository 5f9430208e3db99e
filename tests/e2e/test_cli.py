# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""What a user sees when servetrace cannot start: one clear sentence naming
the problem and a non-zero exit, never a libbpf backtrace or a silent 0.
No deployment needed; argument errors exit 64 (argp's EX_USAGE), run-time
errors 1."""
import os
import socket
import struct
import subprocess
import tempfile

import pytest

from harness import SERVETRACE

AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
MAGIC = b"STREC1\n"


def run(*args, prefix=(), timeout=30):
    res = subprocess.run([*prefix, SERVETRACE, *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, timeout=timeout)
    return res.returncode, res.stdout, res.stderr


def first_line(err):
    """The error itself: the summary a replay prints after it is not it."""
    return err.strip().splitlines()[0] if err.strip() else ""


def free_pid():
    """A pid that names no process (counting down from pid_max, where the
    kernel is least likely to hand one out during the test)."""
    with open("/proc/sys/kernel/pid_max") as f:
        pid = int(f.read()) - 1
    while os.path.exists("/proc/%d" % pid):
        pid -= 1
    return pid


def free_port():
    """A TCP port nobody listens on: bound once by us, then released."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_help_has_examples():
    rc, out, _ = run("--help")
    assert rc == 0
    assert "EXAMPLES:" in out
    assert "servetrace --router-port 30000 --worker-port 30001,30002" in out
    assert "--replay" in out and "no root needed" in out


def test_not_root():
    """BPF needs privileges: say root is needed, not EPERM from libbpf."""
    rc, out, err = run("--worker-pid", str(os.getpid()), prefix=AS_NOBODY)
    assert rc == 1, err
    assert "must run as root" in err, err
    assert "CAP_BPF" in err
    assert out == ""


def test_replay_needs_no_root():
    """--replay is the path for bug reports: it must work unprivileged.
    (pytest's tmp dirs are root-only, hence a file of our own in /tmp.)"""
    with tempfile.NamedTemporaryFile(suffix=".strec") as f:
        f.write(MAGIC + struct.pack("q", 0))
        f.flush()
        os.chmod(f.name, 0o644)
        rc, _, err = run("--replay", f.name, prefix=AS_NOBODY)
    assert rc == 0, err
    assert "must run as root" not in err
    assert "servetrace summary" in err


@pytest.mark.parametrize("flag", ["--worker-pid", "--router-pid"])
def test_pid_does_not_exist(flag):
    pid = free_pid()
    rc, _, err = run(flag, str(pid))
    assert rc == 1, err
    assert first_line(err) == "servetrace: process %d does not exist" % pid


@pytest.mark.parametrize("flag", ["--worker-port", "--router-port"])
def test_port_not_listening(flag):
    port = free_port()
    rc, _, err = run(flag, str(port))
    assert rc == 1, err
    assert first_line(err) == "servetrace: nothing is listening on TCP port %d" % port


@pytest.mark.parametrize("args,message", [
    (["--capture-size", "1"], "servetrace: '1' is not a number from 64 to 16384"),
    (["--capture-size", "99999"], "servetrace: '99999' is not a number from 64 to 16384"),
    (["--worker-pid", "abc"], "servetrace: invalid pid: 'abc'"),
    (["--router-pid", "12,x"], "servetrace: invalid pid: 'x'"),
    (["--worker-port", "70000"], "servetrace: invalid port: '70000'"),
    (["--ringbuf-size", "3"], "servetrace: --ringbuf-size must be a power of 2"),
    (["--ringbuf-size", "0"], "servetrace: '0' is not a number from 1 to 1024"),
    (["-d", "-5"], "servetrace: invalid duration '-5'"),
    (["--io-hooks", "kprobes"], "servetrace: invalid --io-hooks 'kprobes' (auto, sock or syscalls)"),
    (["--bogus"], "unrecognized option '--bogus'"),
])
def test_bad_arguments(args, message):
    """Caught while parsing, before anything is loaded: exit 64 and a
    pointer to --help."""
    rc, out, err = run(*args)
    assert rc == 64, (args, err)
    assert message in err, err
    assert "Try `servetrace --help'" in err
    assert out == ""


def test_stray_argument():
    rc, _, err = run("4242")
    assert rc == 64
    assert "Usage: servetrace" in err


def test_replay_missing_file(tmp):
    path = os.path.join(tmp, "nope.strec")
    rc, out, err = run("--replay", path)
    assert rc == 1, err
    assert first_line(err) == "servetrace: cannot open %s: No such file or directory" % path
    assert out == ""


def test_replay_garbage(tmp):
    path = os.path.join(tmp, "garbage.strec")
    with open(path, "wb") as f:
        f.write(b"\x7fELF not a recording at all" * 10)
    rc, out, err = run("--replay", path)
    assert rc == 1, err
    assert first_line(err) == "servetrace: %s is not a servetrace recording" % path
    assert out == ""


def test_replay_cut_off_tail(tmp):
    """A recording whose writer was killed ends inside a record: what came
    before is replayed, with a warning, and that is not an error."""
    path = os.path.join(tmp, "cut.strec")
    with open(path, "wb") as f:
        f.write(MAGIC + struct.pack("q", 0) + struct.pack("II", 1, 64) + b"abc")
    rc, _, err = run("--replay", path)
    assert rc == 0, err
    assert first_line(err) == ("servetrace: WARNING: %s ends inside a record (its writer was "
                               "stopped abruptly); replayed up to there" % path)


def test_replay_damaged(tmp):
    """A record longer than any servetrace writes is damage, not a cut."""
    path = os.path.join(tmp, "damaged.strec")
    with open(path, "wb") as f:
        f.write(MAGIC + struct.pack("q", 0) + struct.pack("II", 1, 0xFFFFFFF0) + b"x" * 100)
    rc, _, err = run("--replay", path)
    assert rc == 1, err
    assert first_line(err) == "servetrace: %s is damaged (stopped at a bad record)" % path


def test_output_not_writable(tmp):
    path = os.path.join(tmp, "no/such/dir/t.csv")
    rc, _, err = run("--replay", "/dev/null", "-o", path)
    assert rc == 1
    assert first_line(err) == "servetrace: cannot create %s: No such file or directory" % path


def test_empty_run_still_writes_csv_header(tmp):
    rec, csv_path = os.path.join(tmp, "empty.strec"), os.path.join(tmp, "t.csv")
    with open(rec, "wb") as f:
        f.write(MAGIC + struct.pack("q", 0))
    rc, _, err = run("--replay", rec, "-o", csv_path)
    assert rc == 0, err
    with open(csv_path) as f:
        assert f.readline().startswith("req_id,success,error,host,has_generated_text,")
