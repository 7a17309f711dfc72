"""A background job as every replica and worker sees it: who asked, what, and how far it got.

A :class:`JobRecord` is immutable; each change is a new record with a higher
``seq``, so a watcher can drop an event older than what it already showed.
Records never hold a bearer token: they keep the owner's identity and the
worker mints its own short-lived token for it (see :mod:`.context`).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson

from ..auth import Principal, Role

#: Job ids are 32 lowercase hex digits (a UUID4 without dashes, or a digest for schedules).
_JOB_ID = re.compile(r"[0-9a-f]{32}")


class JobStatus(StrEnum):
    """QUEUED → RUNNING (progress 0..1) → COMPLETED or FAILED; a retry goes back to QUEUED."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED)


def new_job_id() -> str:
    return uuid.uuid4().hex


def is_job_id(value: object) -> bool:
    """True for a well-formed job id; anything else never reaches a key or a path."""
    return isinstance(value, str) and _JOB_ID.fullmatch(value) is not None


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class JobOwner:
    """Who a job acts for: the requesting user, or a service identity for scheduled work."""

    subject: str
    username: str
    role: Role

    @classmethod
    def of(cls, principal: Principal) -> JobOwner:
        return cls(principal.subject, principal.username, principal.role)

    def may_see(self, principal: Principal) -> bool:
        """A user sees their own jobs; ADMIN sees every job."""
        return principal.is_admin or principal.subject == self.subject


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One job's state. ``params`` and ``result`` are JSON values owned by the job's task."""

    id: str
    task: str
    owner: JobOwner
    params: dict[str, Any]
    created_at: datetime
    status: JobStatus = JobStatus.QUEUED
    progress: float = 0.0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    result: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0
    #: Something the user should know about how the job ran, e.g. that it was started
    #: again after its worker stopped; kept when it finishes.
    notice: str | None = None
    seq: int = 0

    def changed(self, **changes: Any) -> JobRecord:
        return replace(self, **changes)

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "id": self.id,
                "task": self.task,
                "owner": {
                    "subject": self.owner.subject,
                    "username": self.owner.username,
                    "role": str(self.owner.role),
                },
                "params": self.params,
                "createdAt": self.created_at.isoformat(),
                "status": str(self.status),
                "progress": self.progress,
                "startedAt": _iso(self.started_at),
                "finishedAt": _iso(self.finished_at),
                "error": self.error,
                "result": self.result,
                "attempts": self.attempts,
                "notice": self.notice,
                "seq": self.seq,
            }
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> JobRecord:
        data = orjson.loads(raw)
        owner = data["owner"]
        return cls(
            id=data["id"],
            task=data["task"],
            owner=JobOwner(owner["subject"], owner["username"], Role(owner["role"])),
            params=data["params"],
            created_at=datetime.fromisoformat(data["createdAt"]),
            status=JobStatus(data["status"]),
            progress=float(data["progress"]),
            started_at=_from_iso(data["startedAt"]),
            finished_at=_from_iso(data["finishedAt"]),
            error=data["error"],
            result=data["result"],
            attempts=int(data["attempts"]),
            notice=data.get("notice"),  # absent from records written before it existed
            seq=int(data["seq"]),
        )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _from_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None
