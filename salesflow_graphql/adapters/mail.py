"""E-mail through aiosmtplib: HTML and text parts, attachments, retries (:mod:`.retry`).

A failed send is retried, logged, and finally raised as :class:`MailFailed`
for the caller to record; callers never lose their own work because of it.
Without ``SALESFLOW_SMTP_HOST`` messages are logged instead of sent.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib

from ..config import Settings
from ..retry import RetryPolicy

log = logging.getLogger(__name__)


#: What a send may fail with that is worth trying again.
SEND_FAILURES = (aiosmtplib.SMTPException, OSError, TimeoutError)


class MailFailed(Exception):
    """Every attempt to send failed."""


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content: bytes
    mime_type: str  # e.g. "application/pdf"


@dataclass(frozen=True, slots=True)
class Mail:
    to: tuple[str, ...]
    subject: str
    text: str
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()

    def message(self, sender: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = sender
        message["To"] = ", ".join(self.to)
        message["Subject"] = self.subject
        message.set_content(self.text)
        if self.html is not None:
            message.add_alternative(self.html, subtype="html")
        for attachment in self.attachments:
            main, _, sub = attachment.mime_type.partition("/")
            message.add_attachment(
                attachment.content, maintype=main, subtype=sub, filename=attachment.filename
            )
        return message


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def enabled(self) -> bool:
        return self.settings.mail.smtp_host is not None

    async def send(self, mail: Mail) -> None:
        """Send ``mail``, retried by the retry policy; :class:`MailFailed` when every try failed."""
        if not mail.to:
            return
        if not self.enabled:
            log.info("e-mail not sent (no SMTP host): %r to %s", mail.subject, ", ".join(mail.to))
            return
        s = self.settings
        message = mail.message(s.mail.sender)

        async def attempt() -> None:
            await aiosmtplib.send(
                message,
                hostname=s.mail.smtp_host,
                port=s.mail.smtp_port,
                username=s.mail.smtp_username,
                password=s.mail.smtp_password,
                start_tls=s.mail.smtp_starttls,
                timeout=s.mail.smtp_timeout_s,
            )

        policy = RetryPolicy(s.mail.retries + 1, s.mail.backoff_s)

        def retrying(retry: int, failure: Exception, wait: float) -> None:
            log.warning(
                "e-mail attempt %d of %d failed: %s; retry in %.1fs",
                retry,
                policy.attempts,
                failure,
                wait,
            )

        try:
            await policy.call(attempt, retry_on=SEND_FAILURES, on_retry=retrying)
        except SEND_FAILURES as exc:
            log.warning("e-mail attempt %d of %d failed: %s", policy.attempts, policy.attempts, exc)
            raise MailFailed(f"could not send {mail.subject!r}: {exc}") from exc
        log.info("e-mail sent: %r to %s", mail.subject, ", ".join(mail.to))


def recipients(addresses: Sequence[str]) -> tuple[str, ...]:
    """Deduplicated, trimmed addresses (validation is the caller's, at the edge)."""
    return tuple(dict.fromkeys(a.strip() for a in addresses if a.strip()))
