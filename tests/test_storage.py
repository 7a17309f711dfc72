from __future__ import annotations

import os
from pathlib import Path

import pytest

from salesflow_graphql.adapters.storage import FileStore, StorageError


def test_writes_are_atomic_and_readable(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    path = store.write("reports/2026/11/abc.pdf", b"%PDF")
    assert path == tmp_path / "reports/2026/11/abc.pdf"
    assert store.read("reports/2026/11/abc.pdf") == b"%PDF"
    assert not list(path.parent.glob("*.part")), "no temporary file is left behind"


@pytest.mark.parametrize(
    "relative", ["../etc/passwd", "reports/../../x", "/etc/passwd", "a/../../b"]
)
def test_paths_cannot_escape_the_root(tmp_path: Path, relative: str) -> None:
    with pytest.raises(StorageError):
        FileStore(tmp_path / "root").path(relative)


def test_purge_removes_only_old_files(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    old = store.write("reports/old.pdf", b"1")
    store.write("reports/new.pdf", b"2")
    os.utime(old, (1000, 1000))
    assert store.purge("reports", older_than_s=3600) == 1
    assert not store.exists("reports/old.pdf") and store.exists("reports/new.pdf")
