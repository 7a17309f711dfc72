"""Files the gateway produces (reports, error workbooks), under one root folder.

The root is a shared volume in production, so every replica and worker sees
the same files. Writes are atomic (a temporary file in the same folder, fsync,
then rename), so a reader never sees half a file and a killed writer leaves
none. Relative paths are built by the code from validated ids, never taken from
users, and are still checked not to escape the root.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path


class StorageError(ValueError):
    """A path that would leave the storage root."""


class FileStore:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()

    def path(self, relative: str) -> Path:
        """The absolute path of ``relative``, refusing anything outside the root."""
        candidate = (self.root / relative).resolve()
        if candidate != self.root and self.root not in candidate.parents:
            raise StorageError(f"path escapes the storage root: {relative!r}")
        return candidate

    def write(self, relative: str, content: bytes) -> Path:
        """Write ``content`` atomically; returns the final path."""
        target = self.path(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".part"
        )
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return target

    def exists(self, relative: str) -> bool:
        return self.path(relative).is_file()

    def read(self, relative: str) -> bytes:
        return self.path(relative).read_bytes()

    def delete(self, relative: str) -> None:
        self.path(relative).unlink(missing_ok=True)

    def purge(self, folder: str, older_than_s: float, *, now: float | None = None) -> int:
        """Delete files under ``folder`` last modified more than ``older_than_s`` ago."""
        base = self.path(folder)
        if not base.is_dir():
            return 0
        cutoff = (now if now is not None else time.time()) - older_than_s
        removed = 0
        for file in base.rglob("*"):
            if file.is_file() and file.stat().st_mtime < cutoff:
                file.unlink(missing_ok=True)
                removed += 1
        return removed
