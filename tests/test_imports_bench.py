"""The import benchmark runs in its quick mode, so it cannot rot; its goals are in the tables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_import_benchmark_prints_its_tables_and_the_bomb_goal() -> None:
    done = subprocess.run(
        [sys.executable, "bench/imports.py", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "## 1. importExcel dry run vs pandas.read_excel(engine='openpyxl')" in out
    assert "| 5,000" in out and "50 invalid" in out
    assert "## 2. Bad files refused" in out
    assert out.count("| REJECTED") == 1
    assert "- 300 KB zip bomb refused:" in out and "): met" in out
