"""Request bodies checked the way the Java DTOs' bean-validation annotations do.

Field problems become one 400 ``VALIDATION_ERROR`` whose ``details`` maps each
field (``name``, ``items[0].quantity``, ``[3].price`` in lists) to a message in
Hibernate Validator's wording. A body that is not JSON at all, or not the right
JSON type, is a 400 ``RUNTIME_ERROR`` (Jackson's failure reaches Java's
catch-all handler).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import orjson

from .errors import ApiError, bad_request, validation_failed

NAME_MAX = 100
SKU_MAX = 50
DEFAULT_LOW_STOCK_THRESHOLD = 10
#: NUMERIC(10,2) in PostgreSQL: at most 8 integer digits.
PRICE_MAX_CENTS = 99_999_999_99
INT_MAX = 2**31 - 1


@dataclass(frozen=True, slots=True)
class ProductInput:
    """A valid ``ProductDto`` from a request; price rounded to cents like the DB column."""

    name: str
    sku: str
    price_cents: int
    stock_quantity: int
    description: str | None
    image_url: str | None
    low_stock_threshold: int


@dataclass(frozen=True, slots=True)
class SaleLineInput:
    """One requested sale line: a product by id or sku, and a quantity >= 1."""

    product_id: int | None
    sku: str | None
    quantity: int


def parse_json(body: bytes) -> Any:
    """Decode a request body or fail like Jackson (400 ``RUNTIME_ERROR``)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise bad_request("Malformed JSON request") from None


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _cents(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not amount.is_finite():
        return None
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _text(
    data: dict[str, Any], field: str, prefix: str, details: dict[str, str], *, limit: int
) -> str:
    value = data.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        details[prefix + field] = "must not be blank"
        return ""
    if not isinstance(value, str):
        details[prefix + field] = "must be a string"
        return ""
    if len(value) > limit:
        details[prefix + field] = f"size must be between 0 and {limit}"
    return value


def _count(
    data: dict[str, Any],
    field: str,
    prefix: str,
    details: dict[str, str],
    *,
    minimum: int,
    default: int | None = None,
) -> int:
    raw = data.get(field)
    if raw is None:
        if default is not None:
            return default
        details[prefix + field] = "must not be null"
        return 0
    value = _integer(raw)
    if value is None or value > INT_MAX:
        details[prefix + field] = "must be a whole number"
        return 0
    if value < minimum:
        details[prefix + field] = f"must be greater than or equal to {minimum}"
    return value


def _optional_text(
    data: dict[str, Any], field: str, prefix: str, details: dict[str, str]
) -> str | None:
    value = data.get(field)
    if value is not None and not isinstance(value, str):
        details[prefix + field] = "must be a string"
        return None
    return value


def check_product(data: Any, details: dict[str, str], prefix: str = "") -> ProductInput | None:
    """Check one ``ProductDto``; add problems to ``details`` and return ``None`` if any."""
    if not isinstance(data, dict):
        details[prefix.rstrip(".") or "body"] = "must be a product object"
        return None
    before = len(details)
    name = _text(data, "name", prefix, details, limit=NAME_MAX)
    sku = _text(data, "sku", prefix, details, limit=SKU_MAX)
    price_cents = 0
    if data.get("price") is None:
        details[prefix + "price"] = "must not be null"
    else:
        cents = _cents(data["price"])
        if cents is None:
            details[prefix + "price"] = "must be a number"
        elif cents < 0:
            details[prefix + "price"] = "must be greater than or equal to 0"
        elif cents > PRICE_MAX_CENTS:
            details[prefix + "price"] = (
                "numeric value out of bounds (<8 digits>.<2 digits> expected)"
            )
        else:
            price_cents = cents
    stock = _count(data, "stockQuantity", prefix, details, minimum=0)
    threshold = _count(
        data, "lowStockThreshold", prefix, details, minimum=1, default=DEFAULT_LOW_STOCK_THRESHOLD
    )
    description = _optional_text(data, "description", prefix, details)
    image_url = _optional_text(data, "imageUrl", prefix, details)
    if len(details) > before:
        return None
    return ProductInput(name, sku, price_cents, stock, description, image_url, threshold)


def parse_product(body: bytes) -> ProductInput:
    """A ``ProductDto`` body, or 400."""
    details: dict[str, str] = {}
    data = parse_json(body)
    if not isinstance(data, dict):
        raise bad_request("Malformed JSON request: expected a product object")
    product = check_product(data, details)
    if product is None:
        raise validation_failed(details)
    return product


def parse_product_list(body: bytes) -> list[ProductInput]:
    """A ``[ProductDto]`` body, every element checked; any problem fails the whole list."""
    data = parse_json(body)
    if not isinstance(data, list):
        raise bad_request("Malformed JSON request: expected a list of products")
    details: dict[str, str] = {}
    products = [check_product(item, details, f"[{i}].") for i, item in enumerate(data)]
    if details:
        raise validation_failed(details)
    return [p for p in products if p is not None]


def _check_sale(data: Any, details: dict[str, str], prefix: str) -> list[SaleLineInput]:
    if not isinstance(data, dict):
        details[prefix.rstrip(".") or "body"] = "must be a sale object"
        return []
    items = data.get("items")
    if not isinstance(items, list) or not items:
        details[prefix + "items"] = "must not be empty"
        return []
    lines: list[SaleLineInput] = []
    for i, item in enumerate(items):
        where = f"{prefix}items[{i}]"
        if not isinstance(item, dict):
            details[where] = "must be an item object"
            continue
        product_id = item.get("productId")
        sku = item.get("sku")
        if product_id is not None and _integer(product_id) is None:
            details[f"{where}.productId"] = "must be a whole number"
        if sku is not None and not isinstance(sku, str):
            details[f"{where}.sku"] = "must be a string"
        if product_id is None and not (isinstance(sku, str) and sku.strip()):
            details[where] = "productId or sku is required"
        quantity = _count(item, "quantity", where + ".", details, minimum=1)
        lines.append(
            SaleLineInput(
                _integer(product_id) if product_id is not None else None,
                sku if isinstance(sku, str) else None,
                quantity,
            )
        )
    return lines


def parse_sale(body: bytes) -> list[SaleLineInput]:
    """A ``{"items": [...]}`` body, or 400."""
    data = parse_json(body)
    if not isinstance(data, dict):
        raise bad_request("Malformed JSON request: expected a sale object")
    details: dict[str, str] = {}
    lines = _check_sale(data, details, "")
    if details:
        raise validation_failed(details)
    return lines


def parse_sale_list(body: bytes) -> list[list[SaleLineInput]]:
    """A ``[{"items": [...]}, ...]`` body for the bulk import, every sale checked."""
    data = parse_json(body)
    if not isinstance(data, list):
        raise bad_request("Malformed JSON request: expected a list of sales")
    details: dict[str, str] = {}
    sales = [_check_sale(sale, details, f"[{i}].") for i, sale in enumerate(data)]
    if details:
        raise validation_failed(details)
    return sales


def login_fields(body: bytes, *fields: str) -> dict[str, str]:
    """Required non-blank string fields of an auth body, or 400 ``VALIDATION_ERROR``."""
    data = parse_json(body)
    if not isinstance(data, dict):
        raise bad_request("Malformed JSON request")
    details = {
        f: "must not be blank"
        for f in fields
        if not isinstance(data.get(f), str) or not data[f].strip()
    }
    if details:
        raise validation_failed(details)
    return {f: data[f] for f in fields}


def query_int(params: Any, name: str, default: int) -> int:
    """An integer query parameter; a non-number fails like Spring's type mismatch."""
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
        if not -INT_MAX - 1 <= value <= INT_MAX:
            raise ValueError(raw)
        return value
    except ValueError:
        raise ApiError(
            400,
            "RUNTIME_ERROR",
            f"Failed to convert value of type 'java.lang.String' to required type 'int'; "
            f'For input string: "{raw}"',
        ) from None
