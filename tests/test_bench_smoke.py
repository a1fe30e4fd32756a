"""The benchmark suite still runs end to end (tiny sizes; the real figures come from `python -m bench`)."""

import json
import math
import subprocess
import sys

from assets.marts import MARTS
from bench.__main__ import _slope
from bench.workload import README_QUERIES


def test_suite_runs_and_reports_every_stage(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "W2,W3,W4", "--scale", "0.02", "--list-depth", "20",
         "--models", "300", "--repeat", "1", "--cache", str(tmp_path / "cache"), "--out", str(out)],
        capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    w2 = results["W2"]
    assert w2["size"]["weeks"] == 10 and w2["info"]["weeks"] == 10
    assert w2["info"]["model_weeks"] == 10 * 20
    assert {f"mart.{name}" for name in MARTS} <= set(w2["steps"])
    assert 0 < w2["rebuild_s"] < w2["wall_s"]  # the rebuild, without process start-up
    assert w2["peak_rss_mib"] > 0
    # W3 lands exactly one more week than the base warehouse holds
    assert results["W3"]["info"]["weeks"] == 3
    assert results["W3"]["tokentide_wall_s"] > 0
    assert set(results["W4"]["steps"]) == set(README_QUERIES)
    assert results["W4"]["steps"]["leader_last_8_weeks"]["wall_s"] > 0
    assert "W2 rebuild core+marts" in done.stdout


def test_scaling_slope_is_the_log_log_fit():
    xs = [math.log(n) for n in (65, 130, 260, 520)]
    assert math.isclose(_slope(xs, [math.log(0.01 * n) for n in (65, 130, 260, 520)]), 1.0)
    assert math.isclose(_slope(xs, [2 * x for x in xs]), 2.0)
