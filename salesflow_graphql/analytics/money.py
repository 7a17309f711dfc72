"""Money rounding: full precision inside, cents (round half to even) at the end."""

from __future__ import annotations

from collections.abc import Iterable


def cents(amount: float) -> float:
    """Round an amount to cents, ties to even, as clients see it.

    ``round`` rounds the exact binary value, so a true tie (0.125) goes to the
    even cent (0.12) and float noise (0.30000000000000004) disappears.
    """
    rounded = round(float(amount), 2)
    return rounded + 0.0  # normalises -0.0 to 0.0


def cents_list(amounts: Iterable[float]) -> list[float]:
    """:func:`cents` over many amounts (output-sized lists, not item rows)."""
    return [cents(amount) for amount in amounts]
