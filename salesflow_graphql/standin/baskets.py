"""The demo shop's basket lines, drawn from daily product weights (vectorised, seeded).

Lines are kept one per draw, in time order, while the shop is being built: a
day's lines are a contiguous run, so a day can be drawn again after its
weights change (how anomalies are planted, see :mod:`.anomalies`) and put back
as it was. :meth:`Baskets.merged` gives the final sale lines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Extra lines per basket: Poisson(1.5), capped.
EXTRA_LINES = 1.5
MAX_EXTRA_LINES = 7
#: Extra units per line are Poisson(the product's basket quantity), capped.
MAX_EXTRA_UNITS = 11


@dataclass(frozen=True, slots=True)
class DayDraw:
    """A day's weights and lines before a redraw: what :meth:`Baskets.undo` puts back."""

    day: int
    weights: np.ndarray
    product: np.ndarray
    quantity: np.ndarray


@dataclass
class Baskets:
    """One entry per drawn line: its sale, day, product and quantity (days non-decreasing)."""

    rng: np.random.Generator
    weights: np.ndarray  # (days, products); a planted anomaly changes a day's row
    basket_qty: np.ndarray
    sale: np.ndarray
    day: np.ndarray
    product: np.ndarray
    quantity: np.ndarray

    @classmethod
    def draw(
        cls,
        rng: np.random.Generator,
        weights: np.ndarray,
        sale_day: np.ndarray,
        basket_qty: np.ndarray,
    ) -> Baskets:
        """1 + Poisson(1.5) lines per sale (``sale_day`` in time order), each drawn from its
        day's row of ``weights``."""
        n_sales = len(sale_day)
        lines_per_sale = 1 + np.minimum(rng.poisson(EXTRA_LINES, n_sales), MAX_EXTRA_LINES)
        sale = np.repeat(np.arange(n_sales), lines_per_sale)
        empty = np.zeros(len(sale), dtype=np.int64)
        baskets = cls(rng, weights, basket_qty, sale, sale_day[sale], empty, empty.copy())
        baskets._fill(slice(0, len(sale)))
        return baskets

    @property
    def n_products(self) -> int:
        return int(self.weights.shape[1])

    def lines_of(self, first_day: int, last_day: int) -> slice:
        """The lines of days ``first_day..last_day``."""
        return slice(
            int(np.searchsorted(self.day, first_day)),
            int(np.searchsorted(self.day, last_day, side="right")),
        )

    def reweigh(self, day: int, products: list[int], factor: float) -> DayDraw:
        """Multiply ``day``'s weights of ``products`` by ``factor`` and draw its lines again."""
        lines = self.lines_of(day, day)
        before = DayDraw(
            day, self.weights[day].copy(), self.product[lines].copy(), self.quantity[lines].copy()
        )
        self.weights[day, products] *= factor
        self._fill(lines)
        return before

    def undo(self, before: DayDraw) -> None:
        """Put a day back as it was before :meth:`reweigh`."""
        lines = self.lines_of(before.day, before.day)
        self.weights[before.day] = before.weights
        self.product[lines] = before.product
        self.quantity[lines] = before.quantity

    def merged(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(sale, product, quantity)`` per sale line, sorted by sale then product.

        The same product twice in a basket becomes one line.
        """
        key, inverse = np.unique(self.sale * self.n_products + self.product, return_inverse=True)
        quantity = np.bincount(inverse, weights=self.quantity).astype(np.int64)
        return key // self.n_products, key % self.n_products, quantity

    def _fill(self, lines: slice) -> None:
        """Draw a product and a quantity for each of ``lines``.

        One vectorised ``searchsorted`` over the days' weight rows laid end to end
        (row ``d`` spans ``(d, d + 1]``), so zero-weight products are never drawn.
        """
        if lines.stop <= lines.start:
            return
        line_day = self.day[lines]
        first = int(line_day[0])
        offset = line_day - first
        cum = np.cumsum(self.weights[first : int(line_day[-1]) + 1], axis=1)
        cum = cum / cum[:, -1:]
        flat = (cum + np.arange(len(cum))[:, None]).ravel()
        picks = np.searchsorted(flat, offset + self.rng.uniform(0, 0.999999, len(offset)), "right")
        product = np.minimum(picks - offset * self.n_products, self.n_products - 1)
        self.product[lines] = product
        self.quantity[lines] = 1 + np.minimum(
            self.rng.poisson(self.basket_qty[product]), MAX_EXTRA_UNITS
        )
