"""The reports benchmark runs in its quick mode, so it cannot rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_reports_benchmark_prints_its_tables() -> None:
    done = subprocess.run(
        [sys.executable, "bench/reports.py", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "## 1. FULL report generation" in out
    assert "| 30   | FULL PDF" in out and "| 30   | FULL XLSX" in out
    assert "## 2. Concurrent salesAnalytics latency while reports render" in out
    assert "in a worker thread (the gateway)" in out and "on the event loop (contrast)" in out
