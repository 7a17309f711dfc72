"""Alerts: anomaly detection on sales and stock, live delivery across replicas, e-mail digests.

- :mod:`.model`: ``Alert``, ``AlertKind``, ``Severity``, ``AnomalyRun``;
- :mod:`.series` and :mod:`.detection`: the pure core over DataFrames (seasonal
  baseline, robust scale, gates, scores, severities, the four kinds);
- :mod:`.dedup`: the ledger (dedup, cooldown, check lock) in Redis or memory;
- :mod:`.digest`: the e-mail digest; :mod:`.service`: ``BusinessAlertService``;
- :mod:`.jobs`: the scheduled check; ``salesflow_graphql.alerts.bus``: the alert bus.

The package itself only re-exports the model: the bus (an adapter below the
service) imports it, so the service is imported from :mod:`.service` directly.
"""

from .model import Alert, AlertKind, AnomalyRun, Severity, SubjectLevel

__all__ = ["Alert", "AlertKind", "AnomalyRun", "Severity", "SubjectLevel"]
