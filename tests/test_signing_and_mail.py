from __future__ import annotations

import email
from email import policy
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller
from support import free_port, wait_until

from salesflow_graphql.adapters.mail import Attachment, Mail, Mailer, MailFailed
from salesflow_graphql.adapters.signing import LinkRejected, LinkSigner
from salesflow_graphql.addresses import valid_address
from salesflow_graphql.config import Settings

SECRET = "a-secret-of-at-least-thirty-two-bytes-long!"


def _parts(link: str) -> tuple[str, str, str]:
    split = urlsplit(link)
    query = parse_qs(split.query)
    return split.path, query["exp"][0], query["sig"][0]


def test_a_signed_link_verifies_until_it_expires() -> None:
    signer = LinkSigner(SECRET, ttl_s=60)
    path, exp, sig = _parts(signer.sign("/reports/abc/download", now=1000))
    signer.verify(path, exp, sig, now=1059)
    with pytest.raises(LinkRejected, match="expired"):
        signer.verify(path, exp, sig, now=1061)


@pytest.mark.parametrize("tamper", ["path", "exp", "sig", "secret", "missing"])
def test_tampered_links_are_refused(tamper: str) -> None:
    signer = LinkSigner(SECRET)
    path, exp, sig = _parts(signer.sign("/reports/abc/download", now=1000))
    if tamper == "path":
        path = "/reports/abd/download"
    elif tamper == "exp":
        exp = str(int(exp) + 1)
    elif tamper == "sig":
        sig = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    elif tamper == "secret":
        signer = LinkSigner(SECRET + "x")
    else:
        sig = ""
    with pytest.raises(LinkRejected):
        signer.verify(path, exp, sig, now=1001)


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def smtp() -> tuple[_Inbox, int]:
    inbox = _Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


async def test_mail_with_html_text_and_attachment_is_delivered(smtp, settings: Settings) -> None:
    inbox, port = smtp
    mailer = Mailer(settings.replace(mail={"smtp_host": "127.0.0.1", "smtp_port": port}))
    await mailer.send(
        Mail(
            to=("boss@shop.example",),
            subject="Weekly report",
            text="Revenue is up.",
            html="<p>Revenue is <b>up</b>.</p>",
            attachments=(Attachment("report.pdf", b"%PDF-1.7 fake", "application/pdf"),),
        )
    )
    await wait_until(lambda: len(inbox.messages) == 1, what="the message to arrive")
    message = inbox.messages[0]
    assert message["Subject"] == "Weekly report" and message["To"] == "boss@shop.example"
    assert message.get_body(("plain",)).get_content().strip() == "Revenue is up."
    assert "<b>up</b>" in message.get_body(("html",)).get_content()
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == "report.pdf"
    assert attachment.get_content() == b"%PDF-1.7 fake"


async def test_a_failing_server_is_retried_then_reported(settings: Settings) -> None:
    mailer = Mailer(
        settings.replace(
            mail={"smtp_host": "127.0.0.1", "smtp_port": free_port(), "retries": 2, "backoff_s": 0}
        )
    )
    with pytest.raises(MailFailed):
        await mailer.send(Mail(to=("a@b.example",), subject="x", text="y"))


@pytest.mark.parametrize(
    ("address", "ok"),
    [
        ("a@b.example", True),
        ("no-at.example", False),
        ("a@b", False),
        ("a@b.example\r\nBcc: x@y.z", False),
    ],
)
def test_addresses_are_checked(address: str, ok: bool) -> None:
    assert valid_address(address) is ok
