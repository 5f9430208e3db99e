# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from harness import ROOT, SERVETRACE  # noqa: E402


def pytest_collection_modifyitems(config, items):
    """Tracing needs root and a built binary: say so loudly, never pass silently."""
    reasons = []
    if os.geteuid() != 0:
        reasons.append("not root (BPF needs CAP_BPF/CAP_PERFMON)")
    if not os.path.exists(SERVETRACE):
        reasons.append("servetrace not built (run make)")
    if not reasons:
        return
    msg = "SKIPPED end-to-end: " + "; ".join(reasons)
    print("\n" + "!" * 70 + "\n" + msg + "\n" + "!" * 70, file=sys.stderr)
    for item in items:
        item.add_marker(pytest.mark.skip(reason=msg))


@pytest.fixture
def tmp(tmp_path):
    return str(tmp_path)
