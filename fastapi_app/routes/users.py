"""``/api/users/`` (list, sign-up), ``/api/users/me/``, ``/api/users/{pk}/``: the legacy ``UserViewSet``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from shared_db.models import User

from .. import crud, queries
from ..compat import make_password
from ..deps import SessionDep, View, query_params, read_pool, request_data
from ..errors import APIException, NotFound, PermissionDenied
from ..filtering import UserFilters
from ..metadata import user_metadata
from ..pagination import paginate
from ..reads import ReadAhead, Reads, UserLike
from ..responses import api_response
from ..schemas import render_user, validate_user_input
from . import ViewRoute, method_fallback

__all__ = ["router", "fallbacks"]

PREFIX = "/api/users"
router = APIRouter(prefix=PREFIX, tags=["users"], route_class=ViewRoute)

LIST = View("GET, POST, HEAD, OPTIONS")
ME = View("GET, HEAD, OPTIONS")
DETAIL = View("GET, PUT, PATCH, DELETE, HEAD, OPTIONS")
NO_MATCH = "No User matches the given query."
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _lookup_values(request: Request) -> tuple[UserFilters, dict[str, Any]]:
    """DRF's ``get_object``: the list's filters apply, then ``pk`` (Python's ``int()``, as Django converts
    it); a pk that does not convert is DRF's bare 404, one out of bigint's range Django's empty result."""
    filters = UserFilters.from_params(query_params(request))
    try:
        pk = int(request.path_params["pk"])
    except ValueError:
        raise NotFound() from None
    if not crud.BIGINT_MIN <= pk <= crud.BIGINT_MAX:
        raise NotFound(NO_MATCH)  # Django 5 turns an out-of-range integer lookup into an empty result
    return filters, {**filters.parameters(), "pk": pk}


def _lookup(request: Request) -> tuple[Select[User], dict[str, Any]]:
    filters, params = _lookup_values(request)
    return queries.user_by_id(filters.is_active, len(filters.terms)), params


def read_ahead(request: Request) -> ReadAhead | None:
    """The lookup to make with the token lookup (:class:`ReadAhead`); None when the lookup itself fails:
    it fails again after authentication, where DRF fails it (a 401 comes before the 404)."""
    try:
        filters, params = _lookup_values(request)
    except APIException:
        return None
    return ReadAhead(queries.token_user_and(filters.is_active, len(filters.terms)), params)


async def read_object(request: Request, reads: Reads) -> UserLike:
    """``get_object`` for a read: a row from the read pool."""
    statement, params = _lookup(request)
    user = await reads.row(statement, params)
    if user is None:
        raise NotFound(NO_MATCH)
    return user


async def get_object(request: Request, db: AsyncSession) -> User:
    """``get_object`` for a write: the ORM object, in the request's session (same statement)."""
    statement, params = _lookup(request)
    user = await db.scalar(statement, params)
    if user is None:
        raise NotFound(NO_MATCH)
    return user


def may_change(method: str, requester: UserLike, obj: UserLike) -> bool:
    """``IsSelfOrStaffOrReadOnly.has_object_permission``."""
    return method in SAFE_METHODS or requester.is_staff or requester.id == obj.id


# -- /api/users/ ------------------------------------------------------------------------------------------


@router.get("/", summary="List users (paginated, filterable)")
async def list_users(request: Request) -> Response:
    await LIST.user(request)
    filters = UserFilters.from_params(query_params(request))
    return api_response(request, await paginate(read_pool(request), filters, request, render_user))


@router.post("/", status_code=201, summary="Sign up (open to anyone)")
async def create_user(request: Request, db: SessionDep) -> Response:
    await LIST.any_user(request)
    fields = await validate_user_input(await request_data(request), db)
    password = fields.pop("password")
    # A race lost on a unique index raises here (the insert) and is answered as the legacy's _save does
    # (fastapi_app/constraints.py).
    created = await crud.create_user(db, fields, password)
    await db.commit()
    return api_response(request, render_user(created), 201)


@router.options("/", include_in_schema=False)
async def list_metadata(request: Request) -> Response:
    await LIST.user(request)
    return api_response(request, user_metadata("User List", "POST"))


# -- /api/users/me/ (before {pk}: SimpleRouter lists extra actions first) ---------------------------------


@router.get("/me/", summary="The authenticated user")
async def me(request: Request) -> Response:
    user = await ME.user(request)
    return api_response(request, render_user(user))


@router.options("/me/", include_in_schema=False)
async def me_metadata(request: Request) -> Response:
    await ME.user(request)
    return api_response(request, user_metadata("Me", None))


# -- /api/users/{pk}/ -------------------------------------------------------------------------------------

DETAIL_PATH = "/{pk:drfpk}/"


@router.get(DETAIL_PATH, summary="One user")
async def retrieve_user(request: Request) -> Response:
    ahead = read_ahead(request)
    await DETAIL.user(request, ahead)
    if ahead is None or not ahead.done:
        return api_response(request, render_user(await read_object(request, read_pool(request))))
    if ahead.row is None:
        raise NotFound(NO_MATCH)
    return api_response(request, render_user(ahead.row))


async def _update(request: Request, requester: UserLike, db: AsyncSession, *, partial: bool) -> Response:
    instance = await get_object(request, db)
    if not may_change(request.method, requester, instance):
        raise PermissionDenied()
    fields = await validate_user_input(await request_data(request), db, instance=instance, partial=partial)
    password = fields.pop("password", None)
    for name, value in fields.items():
        setattr(instance, name, value)
    if password is not None:
        instance.password = await make_password(password)
    await db.commit()  # the update's flush: a lost race on a unique index raises here (constraints.py)
    return api_response(request, render_user(instance))


@router.put(DETAIL_PATH, summary="Replace a user (self or staff)")
async def update_user(request: Request, db: SessionDep) -> Response:
    user = await DETAIL.user(request)
    return await _update(request, user, db, partial=False)


@router.patch(DETAIL_PATH, summary="Change a user (self or staff)")
async def partial_update_user(request: Request, db: SessionDep) -> Response:
    user = await DETAIL.user(request)
    return await _update(request, user, db, partial=True)


@router.delete(DETAIL_PATH, status_code=204, summary="Delete a user")
async def destroy_user(request: Request, db: SessionDep) -> Response:
    user = await DETAIL.user(request)
    instance = await get_object(request, db)
    if not may_change(request.method, user, instance):
        raise PermissionDenied()
    await crud.delete_user(db, instance.id)
    await db.commit()
    return api_response(request, None, 204)


@router.options(DETAIL_PATH, include_in_schema=False)
async def detail_metadata(request: Request) -> Response:
    user = await DETAIL.user(request)
    # SimpleMetadata offers PUT only if get_object() and the object permission pass for a PUT.
    try:
        instance = await read_object(request, read_pool(request))
        action = "PUT" if may_change("PUT", user, instance) else None
    except APIException:
        action = None
    return api_response(request, user_metadata("User Instance", action))


# HEAD is answered by the GET handlers, as Django's View does.
router.add_api_route("/", list_users, methods=["HEAD"], include_in_schema=False)
router.add_api_route("/me/", me, methods=["HEAD"], include_in_schema=False)
router.add_api_route(DETAIL_PATH, retrieve_user, methods=["HEAD"], include_in_schema=False)

fallbacks = [
    method_fallback(f"{PREFIX}/", LIST, requires_login=True),
    method_fallback(f"{PREFIX}/me/", ME, requires_login=True),
    method_fallback(f"{PREFIX}{DETAIL_PATH}", DETAIL, requires_login=True),
]
