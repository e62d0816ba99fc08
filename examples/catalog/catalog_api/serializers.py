"""``products.serializers.ProductSerializer``, both ways: a request body to a validated product (its
field rules, messages, database lookups and their order), a product to its JSON.

DRF validates every writable field in declaration order (name, slug, description, price, stock,
is_active, category_slug, tag_slugs) and reports each failing field's messages under its name, in that
order. The lookups run as Django runs them, one query per value and in order, because what a query
cannot take decides the answer: a slug with a NUL character is "not taken" to the UniqueValidator
(Django's DataError is swallowed there) but a 500 in SlugRelatedField, which lets it escape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from .errors import ValidationError
from .fields import (
    EMPTY,
    NULL,
    REQUIRED,
    SKIP,
    SLUG_INVALID,
    Invalid,
    boolean_field,
    char_field,
    decimal_field,
    integer_field,
    lookup_text,
    max_length_errors,
    prohibited_characters,
    represent_datetime,
    represent_decimal,
    slug_errors,
)
from .models import Category, Product, Tag

__all__ = ["ProductInput", "product_json", "validate_product"]

PRICE_DIGITS, PRICE_PLACES = 10, 2
# PositiveIntegerField on PostgreSQL: Django's integer_field_range for it.
STOCK_RANGE = (0, 2147483647)


@dataclass
class ProductInput:
    """``serializer.validated_data``; None where the field was left out (the model default applies)."""

    name: str
    slug: str
    price: Decimal
    category: Category
    description: str | None = None
    stock: int | None = None
    is_active: bool | None = None
    tags: list[Tag] | None = None


class DatabaseRefused(RuntimeError):
    """A lookup value PostgreSQL cannot take (NUL): Django lets its DataError escape as a 500."""


def _has_surrogates(text: str) -> bool:
    return any(0xD800 <= ord(ch) <= 0xDFFF for ch in text)


async def _slug_is_taken(session: AsyncSession, text: str) -> bool:
    # UniqueValidator's qs_exists: a value the database refuses (DataError) or psycopg cannot encode
    # (UnicodeEncodeError, a ValueError) counts as not taken.
    if "\x00" in text or _has_surrogates(text):
        return False
    return bool(await session.scalar(select(exists().where(Product.slug == text))))


async def _by_slug(session: AsyncSession, model: type[Category] | type[Tag], value: Any) -> Any:
    """``SlugRelatedField.to_internal_value``: ``queryset.get(slug=value)``."""
    if value is None:  # get(slug=None) is an IS NULL lookup: nothing
        raise Invalid("Object with slug=None does not exist.")
    text = lookup_text(value)
    if "\x00" in text:
        raise DatabaseRefused("NUL in a lookup value")
    if _has_surrogates(text):  # UnicodeEncodeError in psycopg: a ValueError, so "invalid"
        raise Invalid("Invalid value.")
    found = await session.scalar(select(model).where(model.slug == text))
    if found is None:
        raise Invalid(f"Object with slug={text} does not exist.")
    return found


async def _related(session: AsyncSession, model: type[Category], value: Any) -> Any:
    """``SlugRelatedField`` (required): an empty string counts as null."""
    if value == "":
        value = None
    if value is EMPTY:
        raise Invalid(REQUIRED)
    if value is None:
        raise Invalid(NULL)
    return await _by_slug(session, model, value)


async def _many_related(session: AsyncSession, model: type[Tag], value: Any) -> Any:
    """``ManyRelatedField`` (optional, empty allowed): any iterable but a string; dicts give keys."""
    if value is EMPTY:
        return SKIP
    if value is None:
        raise Invalid(NULL)
    if isinstance(value, str) or not hasattr(value, "__iter__"):
        raise Invalid(f'Expected a list of items but got type "{type(value).__name__}".')
    return [await _by_slug(session, model, item) for item in value]


async def validate_product(data: Any, session: AsyncSession) -> ProductInput:
    """``ProductSerializer(data=data).is_valid(raise_exception=True)``."""
    if data is None:
        raise ValidationError({"non_field_errors": ["No data provided"]})
    if not isinstance(data, Mapping):
        raise ValidationError(
            {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {type(data).__name__}."]}
        )
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}

    async def field(name: str, check: Any) -> None:
        try:
            values[name] = await check(data.get(name, EMPTY))
        except Invalid as exc:
            errors[name] = exc.messages

    async def name(value: Any) -> Any:
        text = char_field(value)
        if text:
            messages = max_length_errors(text, 200) + prohibited_characters(text)
            if messages:
                raise Invalid(*messages)
        return text

    async def slug(value: Any) -> Any:
        text = char_field(value, invalid=SLUG_INVALID)
        if text:
            # The model's UniqueValidator first, then CharField's validators, then SlugField's own.
            messages = (
                ["product with this slug already exists."] if await _slug_is_taken(session, text) else []
            )
            messages += max_length_errors(text, 200) + prohibited_characters(text) + slug_errors(text)
            if messages:
                raise Invalid(*messages)
        return text

    async def description(value: Any) -> Any:
        text = char_field(value, required=False, allow_blank=True)
        if text and text is not SKIP:
            messages = prohibited_characters(text)
            if messages:
                raise Invalid(*messages)
        return text

    async def price(value: Any) -> Any:
        return decimal_field(
            value, max_digits=PRICE_DIGITS, decimal_places=PRICE_PLACES, min_value=Decimal("0")
        )

    async def stock(value: Any) -> Any:
        return integer_field(value, required=False, min_value=STOCK_RANGE[0], max_value=STOCK_RANGE[1])

    async def is_active(value: Any) -> Any:
        return boolean_field(value, required=False)

    async def category_slug(value: Any) -> Any:
        return await _related(session, Category, value)

    async def tag_slugs(value: Any) -> Any:
        return await _many_related(session, Tag, value)

    for check in (name, slug, description, price, stock, is_active, category_slug, tag_slugs):
        await field(check.__name__, check)
    if errors:
        raise ValidationError(errors)

    def given(key: str) -> Any:
        return None if values[key] is SKIP else values[key]

    return ProductInput(
        name=values["name"],
        slug=values["slug"],
        price=values["price"],
        category=values["category_slug"],
        description=given("description"),
        stock=given("stock"),
        is_active=given("is_active"),
        tags=given("tag_slugs"),
    )


def product_json(
    product: Product,
    category: Category,
    tags: list[Tag],
    created_by: str | None,
    price: Decimal | None = None,
) -> dict[str, Any]:
    """``ProductSerializer(product).data``; ``price``: the validated value a create renders (not re-read).

    A product nobody is recorded to have created has no ``created_by`` key at all (not ``null``):
    ``ReadOnlyField(source="created_by.username")`` meets None halfway along its source, and DRF skips a
    read-only field whose attribute lookup fails."""
    data = {
        "id": product.id,
        "name": product.name,
        "slug": product.slug,
        "description": product.description,
        "price": represent_decimal(product.price if price is None else price, PRICE_DIGITS, PRICE_PLACES),
        "stock": product.stock,
        "is_active": product.is_active,
        "category": {"id": category.id, "name": category.name, "slug": category.slug},
        "tags": [{"id": tag.id, "name": tag.name, "slug": tag.slug} for tag in tags],
        "created_by": created_by,
        "created_at": represent_datetime(product.created_at),
        "updated_at": represent_datetime(product.updated_at),
    }
    if created_by is None:
        del data["created_by"]
    return data
