"""Benchmarks run in their quick mode, so they cannot rot. Goals live in the printed tables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_analytics_benchmark_prints_its_tables() -> None:
    done = subprocess.run(
        [sys.executable, "bench/analytics.py", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "## 1. Pure analytics compute" in out
    assert "## 2. Warm-cache salesAnalytics" in out
    assert "## 3. Cold query vs raw fetch+parse" in out
    assert "| 100,000" in out
    assert "ratio " in out


@pytest.mark.slow
def test_forecast_serving_benchmark_prints_its_table() -> None:
    done = subprocess.run(
        [sys.executable, "bench/forecast_serving.py", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "salesAnalytics, while 2 forecasts train" in done.stdout
    assert "forecasts (1 training process)" in done.stdout
