"""The alert digest: one e-mail per check with the alerts at or above the configured severity.

HTML (a table, most severe first) and plain text carry the same content. The
mailer retries a failed send with backoff; if it still fails, the failure is
logged and the check goes on: alerts were already published live, and an
e-mail is a copy, not the record.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence

from ..adapters.mail import Mail, Mailer, MailFailed
from ..config import Settings
from .model import Alert, Severity

log = logging.getLogger(__name__)

_COLOURS = {
    Severity.CRITICAL: "#b00020",
    Severity.HIGH: "#d9480f",
    Severity.MEDIUM: "#b08900",
    Severity.LOW: "#5c7080",
}


def digest_alerts(alerts: Sequence[Alert], min_severity: Severity) -> list[Alert]:
    """The alerts a digest shows: at or above ``min_severity``, most severe first, then by date."""
    chosen = [a for a in alerts if a.severity.at_least(min_severity)]
    return sorted(chosen, key=lambda a: (-a.severity.rank, a.date or a.detected_at.date(), a.id))


def build_digest(
    alerts: Sequence[Alert], to: tuple[str, ...], *, public_url: str | None = None
) -> Mail:
    """The digest e-mail of ``alerts`` (already chosen and ordered)."""
    counts = {s: sum(a.severity is s for a in alerts) for s in Severity}
    worst = max(alerts, key=lambda a: a.severity.rank).severity
    summary = ", ".join(f"{n} {s.value.lower()}" for s, n in reversed(counts.items()) if n)
    subject = f"[SalesFlow] {len(alerts)} new alert{'s' if len(alerts) != 1 else ''} ({summary})"
    if len(alerts) == 1:
        subject = f"[SalesFlow] {worst.value}: {alerts[0].kind.value} {alerts[0].subject}"
    link = f"{public_url.rstrip('/')}/graphql" if public_url else None

    text_lines = [f"SalesFlow found {len(alerts)} new alert(s): {summary}.", ""]
    for alert in alerts:
        when = alert.date.isoformat() if alert.date else "-"
        text_lines.append(f"[{alert.severity.value}] {alert.kind.value} {alert.subject} ({when})")
        text_lines.append(f"    {alert.message}")
        text_lines.append(
            f"    observed {alert.observed:g} {alert.metric}, expected {alert.expected:g}, "
            f"score {alert.score:g}, alert id {alert.id}"
        )
    if link:
        text_lines += ["", f"Live alerts: subscribe to `alerts` at {link}"]
    text_lines += ["", "You receive this because your address is in SALESFLOW_ALERT_EMAIL_TO."]

    rows = "\n".join(
        "<tr>"
        f'<td style="color:{_COLOURS[a.severity]};font-weight:bold">{a.severity.value}</td>'
        f"<td>{html.escape(a.kind.value)}</td>"
        f"<td>{html.escape(a.subject)}</td>"
        f"<td>{a.date.isoformat() if a.date else '-'}</td>"
        f'<td style="text-align:right">{a.observed:g}</td>'
        f'<td style="text-align:right">{a.expected:g}</td>'
        f"<td>{html.escape(a.message)}</td>"
        "</tr>"
        for a in alerts
    )
    footer = (
        f'<p>Live alerts: subscribe to <code>alerts</code> at <a href="{html.escape(link)}">'
        f"{html.escape(link)}</a>.</p>"
        if link
        else ""
    )
    body = f"""<!doctype html>
<html><body style="font-family:Arial,Helvetica,sans-serif;font-size:14px">
<h2 style="margin:0 0 8px 0">SalesFlow: {len(alerts)} new alert(s)</h2>
<p>{html.escape(summary)}.</p>
<table cellpadding="6" cellspacing="0" border="1" style="border-collapse:collapse;border-color:#ddd">
<thead><tr><th>Severity</th><th>Kind</th><th>Subject</th><th>Date</th><th>Observed</th>
<th>Expected</th><th>What happened</th></tr></thead>
<tbody>
{rows}
</tbody></table>
{footer}
<p style="color:#777">You receive this because your address is in SALESFLOW_ALERT_EMAIL_TO.</p>
</body></html>
"""
    return Mail(to=to, subject=subject, text="\n".join(text_lines) + "\n", html=body)


class AlertDigest:
    """Sends one digest per check; never raises."""

    def __init__(self, settings: Settings, mailer: Mailer) -> None:
        self.mailer = mailer
        self.to = settings.alerts.email_to
        self.min_severity = settings.alerts.email_min_severity
        self.public_url = settings.public_url

    async def send(self, alerts: Sequence[Alert]) -> int:
        """E-mail the alerts at or above the minimum severity; return how many were e-mailed."""
        chosen = digest_alerts(alerts, self.min_severity)
        if not chosen or not self.to:
            return 0
        if not self.mailer.enabled:
            log.info("alert digest of %d alert(s) not sent: no SMTP host", len(chosen))
            return 0
        try:
            await self.mailer.send(build_digest(chosen, self.to, public_url=self.public_url))
        except MailFailed as exc:
            log.error("alert digest of %d alert(s) not delivered: %s", len(chosen), exc)
            return 0
        except Exception:  # an e-mail never breaks a check
            log.exception("alert digest of %d alert(s) failed", len(chosen))
            return 0
        return len(chosen)
