"""What counts as an e-mail address: the one check, for settings, reports and alerts."""

from __future__ import annotations


def valid_address(address: str) -> bool:
    """A light check: one @, a dot in the domain, no spaces or header breaks."""
    local, at, domain = address.partition("@")
    return bool(at and local and "." in domain and not any(c in address for c in " \r\n,;<>"))
