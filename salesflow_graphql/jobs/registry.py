"""What background work exists: tasks (one run per job record) and periodic jobs.

Each capability registers its work into one :class:`JobRegistry` at start-up
(``runtime.JOB_PROVIDERS``); the arq worker turns the registry into arq
functions and ``arq.cron`` jobs, and the embedded runner runs the same entries
as asyncio tasks. Nothing else knows which capabilities have background work.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from ..auth import Role, mint_access_token
from ..cron import Schedule
from .model import JobOwner, JobRecord

if TYPE_CHECKING:
    from ..config import Settings
    from .store import JobStore

#: The identity periodic jobs act as toward Java (a USER unless the job asks for more).
SERVICE_SUBJECT = "salesflow-scheduler"


def service_owner(role: Role = Role.USER) -> JobOwner:
    return JobOwner(SERVICE_SUBJECT, "scheduler", role)


def job_token(settings: Settings, owner: JobOwner, ttl_s: int | None = None) -> str:
    """A fresh access token for ``owner``'s subject and role, toward Java.

    Jobs never store the caller's bearer token (it expires within the hour and
    would sit in Redis); the worker holds the shared secret and issues an
    equivalent token for the same subject and role, as Java itself would. It
    lives a little longer than one attempt may run.
    """
    return mint_access_token(
        settings.auth.jwt_secret,
        owner.role,
        subject=owner.subject,
        username=owner.username,
        ttl_s=ttl_s or int(settings.jobs.timeout_s) + 120,
        now=time.time(),
    )


class JobServices(Protocol):
    """What this package itself needs of the services work runs with. The application
    hands it its :class:`~salesflow_graphql.services.Services`, and each task or periodic job
    declares that type (``TaskContext[Services]``): this adapter does not import the layers
    above it."""

    @property
    def settings(self) -> Settings: ...


S = TypeVar("S", bound=JobServices)


@dataclass
class TaskContext(Generic[S]):
    """What a task sees during one attempt at a job; ``job`` follows every save."""

    #: The application's services (built once at start-up).
    services: S
    job: JobRecord
    attempt: int
    store: JobStore

    async def progress(self, fraction: float) -> None:
        """Tell watchers how far the job got (0..1); only forward steps of 1 % or more count."""
        fraction = round(min(1.0, max(0.0, fraction)), 3)
        if fraction >= self.job.progress + 0.01:
            self.job = await self.store.save(self.job.changed(progress=fraction))

    async def merge_result(self, **values: Any) -> None:
        """Add ``values`` to the job's result (a follow-up records what it did)."""
        self.job = await self.store.save(self.job.changed(result={**self.job.result, **values}))

    def access_token(self) -> str:
        return job_token(self.services.settings, self.job.owner)


class JobSubmitter(Protocol):
    """What a periodic job sees of the runner (``runner.JobRunner`` is one): its store, submit."""

    store: JobStore

    async def submit(self, record: JobRecord, *, max_open: int | None = None) -> JobRecord: ...


@dataclass
class PeriodicContext(Generic[S]):
    """What a periodic job sees at one tick."""

    #: The application's services (built once at start-up).
    services: S
    runner: JobSubmitter
    scheduled_at: datetime
    owner: JobOwner = field(default_factory=service_owner)

    def access_token(self) -> str:
        return job_token(self.services.settings, self.owner)


#: A task's attempt: returns the job's ``result`` (JSON values) on success.
TaskRun = Callable[[TaskContext[Any]], Awaitable[dict[str, Any]]]
#: Work done after COMPLETED is recorded (e.g. e-mail); must be idempotent, must not raise.
TaskFollowUp = Callable[[TaskContext[Any]], Awaitable[None]]
PeriodicRun = Callable[[PeriodicContext[Any]], Awaitable[None]]


@dataclass(frozen=True)
class Task:
    """A kind of job (``JobRecord.task``) and the function that does it."""

    name: str
    run: TaskRun
    follow_up: TaskFollowUp | None = None


@dataclass(frozen=True)
class PeriodicJob:
    """Work that runs on a schedule: once per tick across all workers (arq ``unique`` cron).

    ``timeout_s`` bounds one tick (capped at ``SALESFLOW_JOB_TIMEOUT_S``: arq's
    dead-worker detection follows the longest timeout); ``role`` is the role of
    the service token the job gets from :meth:`PeriodicContext.access_token`.
    """

    name: str
    schedule: Schedule
    run: PeriodicRun
    timeout_s: float = 300.0
    role: Role = Role.USER
    run_at_startup: bool = False


class JobRegistry:
    """Tasks and periodic jobs by name; names are unique."""

    def __init__(self) -> None:
        self.tasks: dict[str, Task] = {}
        self.periodic: dict[str, PeriodicJob] = {}

    def add_task(self, task: Task) -> None:
        if task.name in self.tasks:
            raise ValueError(f"task {task.name!r} is registered twice")
        self.tasks[task.name] = task

    def add_periodic(self, job: PeriodicJob) -> None:
        if job.name in self.periodic:
            raise ValueError(f"periodic job {job.name!r} is registered twice")
        self.periodic[job.name] = job

    def task(self, name: str) -> Task:
        return self.tasks[name]


#: A capability's hook: register its tasks and periodic jobs for these settings.
JobProvider = Callable[[JobRegistry, "Settings"], None]


def build_registry(providers: tuple[JobProvider, ...], settings: Settings) -> JobRegistry:
    registry = JobRegistry()
    for provide in providers:
        provide(registry, settings)
    return registry
