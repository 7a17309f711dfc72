"""The Product type and the ``product(sku)`` query."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from ..sor.records import ProductDto
from .permissions import IsAuthenticated


@strawberry.type(
    description="A product of the catalogue, with its category and cost from inventory."
)
class Product:
    id: strawberry.ID = strawberry.field(description="Java's product id.")
    sku: str = strawberry.field(description="Stock keeping unit, unique in the catalogue.")
    name: str = strawberry.field(description="Current product name.")
    price: float = strawberry.field(description="Current selling price.")
    stock_quantity: int = strawberry.field(description="Units in stock now.")
    low_stock_threshold: int = strawberry.field(
        description="At or below this stock the product counts as low stock."
    )
    description: str | None = strawberry.field(description="Free-text description, if any.")
    image_url: str | None = strawberry.field(description="Image URL, if any.")
    discontinued: bool = strawberry.field(
        description=(
            "True when the product is no longer in the catalogue: its sku, name and price are "
            "those of its last sale line (the same in every answer), stock and threshold are 0."
        )
    )

    @strawberry.field(
        description="Category from the inventory row with this sku; null when unknown."
    )
    async def category(self, info: Info) -> str | None:
        row = await info.context.loaders.inventory_by_sku.load(self.sku)
        return row.category if row is not None else None

    @strawberry.field(
        description="Unit cost from the inventory row with this sku; null when unknown."
    )
    async def cost(self, info: Info) -> float | None:
        row = await info.context.loaders.inventory_by_sku.load(self.sku)
        return round(row.cost, 2) if row is not None and row.cost is not None else None

    @classmethod
    def of(cls, dto: ProductDto) -> Product:
        return cls(
            id=strawberry.ID(str(dto.id)),
            sku=dto.sku,
            name=dto.name,
            price=round(dto.price, 2),
            stock_quantity=dto.stock_quantity,
            low_stock_threshold=dto.low_stock_threshold,
            description=dto.description,
            image_url=dto.image_url,
            discontinued=False,
        )

    @classmethod
    def missing(cls, product_id: int, sku: str, name: str, last_price: float) -> Product:
        """A product sold in the past but deleted from the catalogue since."""
        return cls(
            id=strawberry.ID(str(product_id)),
            sku=sku,
            name=name,
            price=round(last_price, 2),
            stock_quantity=0,
            low_stock_threshold=0,
            description=None,
            image_url=None,
            discontinued=True,
        )


async def product_by_id(
    info: Info, product_id: int, sku: str, name: str, last_price: float
) -> Product:
    """The catalogue product, or a discontinued stand-in built from its last sale line.

    Every ``Product`` with a given ``id`` carries the same values in any answer (normalized
    client caches key products by ``id``), so only this function and ``Product.of`` make them.
    """
    dto = await info.context.loaders.products_by_id.load(product_id)
    return (
        Product.of(dto) if dto is not None else Product.missing(product_id, sku, name, last_price)
    )


@strawberry.type
class ProductQuery:
    @strawberry.field(
        description="The product with this sku, or null when there is none.",
        permission_classes=[IsAuthenticated],
    )
    async def product(
        self, info: Info, sku: Annotated[str, strawberry.argument(description="The product's sku.")]
    ) -> Product | None:
        dto = await info.context.loaders.products_by_sku.load(sku.strip())
        return Product.of(dto) if dto is not None else None
