"""The ported product routes: the list (GET, HEAD), create (POST) and one product (GET, HEAD).

Each is ``products.views.ProductViewSet``'s action of the same name, with the viewset's queryset:
``Product.objects.visible_to(user)`` (staff see inactive products), ordered by ``Meta.ordering``
(name, then id) in SQL, since the database's collation decides where "dune (paperback)" goes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import Select, func, insert, select
from sqlalchemy.orm import joinedload, selectinload
from starlette.responses import Response

from ..authentication import Identity
from ..deps import SessionDep, View
from ..errors import NotFound
from ..models import Category, Product, Tag, product_tags
from ..pagination import limit_of, page_of
from ..parsing import request_data
from ..rendering import api_response
from ..serializers import product_json, validate_product

__all__ = ["router"]

router = APIRouter(tags=["products"])

LIST = View("GET, POST, HEAD, OPTIONS")
DETAIL = View("GET, PUT, PATCH, DELETE, HEAD, OPTIONS")
NOT_FOUND = "No Product matches the given query."
# products_product.id is a bigint: Django looks a larger id up without error and finds nothing.
_INT8 = range(-(2**63), 2**63)


def _visible(query: Select[Any], user: Identity | None) -> Select[Any]:
    return query if user is not None and user.is_staff else query.where(Product.is_active.is_(True))


def _with_relations(query: Select[Any]) -> Select[Any]:
    # select_related("category", "created_by") + prefetch_related("tags"), as the viewset loads them.
    return query.options(
        joinedload(Product.category), joinedload(Product.created_by), selectinload(Product.tags)
    )


def _json(product: Product) -> dict[str, Any]:
    created_by = product.created_by.username if product.created_by is not None else None
    return product_json(product, product.category, product.tags, created_by)


@router.api_route("/api/products/", methods=["GET", "HEAD"])
async def list_products(request: Request, session: SessionDep) -> Response:
    user = await LIST.initial(request, session)
    query = _visible(select(Product), user)
    category = request.query_params.get("category")
    if category:
        query = query.join(Product.category).where(Category.slug == category)
    tag = request.query_params.get("tag")
    if tag:
        query = (
            query.join(product_tags, product_tags.c.product_id == Product.id)
            .join(Tag, Tag.id == product_tags.c.tag_id)
            .where(Tag.slug == tag)
        )
    limit = limit_of(request)
    count = await session.scalar(select(func.count()).select_from(query.subquery()))
    page = page_of(request, count or 0, limit)
    results: list[dict[str, Any]] = []
    if not page.empty:
        rows = await session.scalars(
            _with_relations(query.order_by(Product.name, Product.id).offset(page.offset).limit(page.limit))
        )
        results = [_json(product) for product in rows.unique()]
    return api_response(request, page.body(request, results))


@router.post("/api/products/")
async def create_product(request: Request, session: SessionDep) -> Response:
    user = await LIST.initial(request, session)
    assert user is not None  # IsAuthenticatedOrReadOnly refused anonymous writes
    data = await request_data(request)
    valid = await validate_product(data, session)
    # Model.save(): created_at's then updated_at's pre_save, each with its own timezone.now().
    created_at = datetime.now(UTC)
    updated_at = datetime.now(UTC)
    product = Product(
        name=valid.name,
        slug=valid.slug,
        description="" if valid.description is None else valid.description,
        price=valid.price,
        stock=0 if valid.stock is None else valid.stock,
        is_active=True if valid.is_active is None else valid.is_active,
        category_id=valid.category.id,
        created_by_id=user.id,
        created_at=created_at,
        updated_at=updated_at,
    )
    session.add(product)
    await session.flush()
    if valid.tags is not None:
        # product.tags.set(tags): Django collects the ids in a set and inserts them in its order.
        tag_ids: set[int] = set()
        for tag in valid.tags:
            tag_ids.add(tag.id)
        if tag_ids:
            await session.execute(
                insert(product_tags), [{"product_id": product.id, "tag_id": tag_id} for tag_id in tag_ids]
            )
    await session.commit()
    # serializer.data re-reads product.tags.all(), ordered by Tag.Meta.ordering in SQL.
    tags = list(
        await session.scalars(
            select(Tag)
            .join(product_tags, product_tags.c.tag_id == Tag.id)
            .where(product_tags.c.product_id == product.id)
            .order_by(Tag.name)
        )
    )
    body = product_json(product, valid.category, tags, user.username, price=valid.price)
    return api_response(request, body, 201)


@router.api_route("/api/products/{pk:int}/", methods=["GET", "HEAD"])
async def retrieve_product(pk: int, request: Request, session: SessionDep) -> Response:
    user = await DETAIL.initial(request, session)
    product = None
    if pk in _INT8:
        query = _with_relations(_visible(select(Product), user).where(Product.id == pk))
        product = (await session.scalars(query)).unique().one_or_none()
    if product is None:
        raise NotFound(NOT_FOUND)
    return api_response(request, _json(product))
