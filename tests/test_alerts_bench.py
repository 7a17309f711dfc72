"""The alerts benchmark runs in its quick mode, so it cannot rot; its goals are in its tables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_alerts_benchmark_prints_its_tables_and_meets_the_hard_goals() -> None:
    done = subprocess.run(
        [sys.executable, "bench/alerts.py", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    for title in (
        "## 1. Detection quality: recall by anomaly size",
        "## 1b. Detection quality, summary",
        "## 2. The demo shop's planted anomalies",
        "## 3. Check speed",
        "## 4. Delivery",
        "## 5. Fan-out",
    ):
        assert title in out, title
    lines = out.splitlines()
    # Zero-MAD products never alert: exact, whatever the sample.
    (zero_mad,) = [line for line in lines if line.startswith("| alerts from zero-MAD products")]
    assert zero_mad.split("|")[2].strip() == "0"
    # Every planted anomaly of the demo shop is found.
    planted = lines[lines.index(next(x for x in lines if x.startswith("## 2."))) + 3 :]
    planted = [row for row in planted[: planted.index("")] if row.startswith("| 20")]
    assert len(planted) == 8 and all(row.split("|")[5].strip() == "yes" for row in planted)
    # Speed, delivery and fan-out goals hold even in the small run.
    assert "| NO " not in out
