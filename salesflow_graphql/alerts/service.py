"""``BusinessAlertService.check_and_notify_anomalies``: fetch, detect off the loop, dedup, publish, e-mail.

One check, under the ledger's check lock (one at a time across replicas):

1. read the sales of the scanned days plus their 8-week baselines, the
   catalogue and the inventory from the caller's data source (cached like every
   other read of Java);
2. run the pure detection (:mod:`.detection`) in a worker thread;
3. claim each finding in the ledger (dedup and cooldown) and publish the new
   ones on the bus, oldest day first, so ids follow the business timeline;
4. send one e-mail digest of the new alerts at or above the configured
   severity (after the lock: a slow SMTP server never holds up other checks).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta

import msgspec
from prometheus_client import Counter, Histogram

from ..adapters.mail import Mailer
from ..config import Settings
from ..datasource import DataSource
from ..metrics import ALERTS_RAISED, REGISTRY
from .bus import AlertBus, create_alert_bus
from .dedup import AlertLedger, Claim, create_alert_ledger
from .detection import DetectionRules, detect_anomalies, history_days
from .digest import AlertDigest
from .model import Alert, AnomalyRun, Severity

log = logging.getLogger(__name__)

CHECKS = Counter(
    "salesflow_anomaly_checks_total",
    "Anomaly checks by outcome (ok, error).",
    ["outcome"],
    registry=REGISTRY,
)
CHECK_SECONDS = Histogram(
    "salesflow_anomaly_check_seconds",
    "Duration of one anomaly check (fetch, detection, dedup, publish).",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
    registry=REGISTRY,
)
FINDINGS = Counter(
    "salesflow_anomaly_findings_total",
    "Alerts found by checks, by what the ledger said (new, duplicate, cooling-down).",
    ["verdict"],
    registry=REGISTRY,
)

#: Largest ``limit`` of the alerts query.
MAX_RECENT = 500


class BusinessAlertService:
    """Runs anomaly checks and serves recent and live alerts."""

    def __init__(
        self, settings: Settings, bus: AlertBus, ledger: AlertLedger, digest: AlertDigest
    ) -> None:
        self.settings = settings
        self.bus = bus
        self.ledger = ledger
        self.digest = digest
        self.rules = DetectionRules.from_settings(settings)

    @classmethod
    def create(cls, settings: Settings, mailer: Mailer) -> BusinessAlertService:
        """The service over the bus and ledger of the run mode (Redis or memory)."""
        return cls(
            settings,
            create_alert_bus(settings),
            create_alert_ledger(settings),
            AlertDigest(settings, mailer),
        )

    async def check_and_notify_anomalies(self, data: DataSource) -> AnomalyRun:
        """One check now: the alerts it newly raised, published and e-mailed."""
        started_at = datetime.now(UTC)
        started = time.perf_counter()
        try:
            async with self.ledger.check_lock(self.settings.alerts.check_timeout_s):
                checked, found, raised, suppressed = await self._check(data)
        except Exception:
            CHECKS.labels("error").inc()
            raise
        notified = await self.digest.send(raised)
        duration = time.perf_counter() - started
        CHECKS.labels("ok").inc()
        CHECK_SECONDS.observe(duration)
        log.info(
            "anomaly check: %d series, %d found, %d new, %d cooling down, %d e-mailed, %.2fs",
            checked,
            found,
            len(raised),
            suppressed,
            notified,
            duration,
        )
        return AnomalyRun(
            checked_series=checked,
            alerts=raised,
            notified=notified,
            found=found,
            suppressed=suppressed,
            started_at=started_at,
            duration_s=duration,
        )

    async def _check(self, data: DataSource) -> tuple[int, int, list[Alert], int]:
        scan_days = self.settings.alert_scan_window_days
        today = data.today()
        first_day = today - timedelta(days=history_days(scan_days) - 1)
        window, catalogue, inventory = await asyncio.gather(
            data.sales_since(first_day), data.catalogue(), data.inventory()
        )
        detection = await asyncio.to_thread(
            detect_anomalies,
            window.items,
            catalogue.frame,
            inventory.frame,
            today,
            self.rules,
            scan_days=scan_days,
            detected_at=datetime.now(UTC),
        )
        raised: list[Alert] = []
        suppressed = 0
        for found in detection.alerts:
            verdict = await self.ledger.claim(found)
            FINDINGS.labels(verdict.value).inc()
            if verdict is not Claim.NEW:
                suppressed += verdict is Claim.COOLING_DOWN
                continue
            # Stamped at publication: detectedAt is when the alert became known as new.
            alert = msgspec.structs.replace(found, detected_at=datetime.now(UTC))
            try:
                raised.append(await self.bus.publish(alert))
            except BaseException:  # cancelled too: a lost alert is worse than a repeated one
                await self.ledger.release(alert)  # a later check raises it again
                raise
            ALERTS_RAISED.labels(alert.kind.value, alert.severity.value).inc()
        return detection.checked_series, len(detection.alerts), raised, suppressed

    async def recent_alerts(self, limit: int, min_severity: Severity) -> list[Alert]:
        """The newest alerts, newest first."""
        return await self.bus.recent(limit, min_severity)

    async def alert_count(self, min_severity: Severity) -> int:
        """How many alerts are kept (the stream's last ``alert_stream_maxlen``) at this severity."""
        return await self.bus.count(min_severity)

    async def close(self) -> None:
        await self.bus.close()
        await self.ledger.close()
