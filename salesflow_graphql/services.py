"""``Services``: the application's services as background work and plain-HTTP routes use them.

Built once by ``Runtime.start`` from the same objects the GraphQL layer uses.
Jobs (``alerts/jobs.py``, ``reports/jobs.py``), the arq worker and the report
routes receive this, typed, and open their own reading of Java's data with
:meth:`Services.data`: no request, no GraphQL.
"""

from __future__ import annotations

from dataclasses import dataclass

from .adapters.mail import Mailer
from .adapters.signing import LinkSigner
from .adapters.storage import FileStore
from .alerts.service import BusinessAlertService
from .config import Settings
from .datasource import DataSource
from .jobs import JobRunner
from .reports.service import ReportService
from .sor.source import SystemOfRecord


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    source: SystemOfRecord
    reports: ReportService
    alerts: BusinessAlertService
    jobs: JobRunner
    files: FileStore
    mailer: Mailer
    signer: LinkSigner

    def data(self, token: str | None) -> DataSource:
        """A new consistent reading of Java's data as ``token``'s holder."""
        return self.source.reading(token)
