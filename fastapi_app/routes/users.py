"""``/api/users/`` (list, sign-up), ``/api/users/me/``, ``/api/users/{pk}/``: the legacy ``UserViewSet``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from shared_db.models import User

from .. import crud
from ..compat import make_password
from ..deps import CurrentUser, OptionalUser, SessionDep, View, request_data
from ..errors import APIException, NotFound, PermissionDenied, ValidationError
from ..filtering import filter_users, order_users
from ..metadata import user_metadata
from ..pagination import paginate
from ..responses import api_response
from ..schemas import DUPLICATE_EMAIL, DUPLICATE_USERNAME, UserOut, validate_user_input
from . import method_fallback

__all__ = ["router", "fallbacks"]

PREFIX = "/api/users"
router = APIRouter(prefix=PREFIX, tags=["users"])

LIST = View("GET, POST, HEAD, OPTIONS")
ME = View("GET, HEAD, OPTIONS")
DETAIL = View("GET, PUT, PATCH, DELETE, HEAD, OPTIONS")
NO_MATCH = "No User matches the given query."
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


async def get_object(request: Request, db: AsyncSession) -> User:
    """DRF's ``get_object``: the list's filters apply, then ``pk`` (Python's ``int()``, as Django converts
    it); a pk that does not convert is DRF's bare 404, a missing row Django's ``Http404`` message."""
    query = filter_users(select(User), request.query_params)
    try:
        pk = int(request.path_params["pk"])
    except ValueError:
        raise NotFound() from None
    if not crud.BIGINT_MIN <= pk <= crud.BIGINT_MAX:
        raise NotFound(NO_MATCH)  # Django 5 turns an out-of-range integer lookup into an empty result
    user = await db.scalar(query.where(User.id == pk))
    if user is None:
        raise NotFound(NO_MATCH)
    return user


def may_change(method: str, requester: User, obj: User) -> bool:
    """``IsSelfOrStaffOrReadOnly.has_object_permission``."""
    return method in SAFE_METHODS or requester.is_staff or requester.id == obj.id


async def save(db: AsyncSession) -> None:
    """``UserSerializer._save``: the unique indexes decide a race the validators lost."""
    try:
        await db.commit()
    except IntegrityError as exc:
        await db.rollback()
        message = str(exc.orig)
        if "users_email_ci_uniq" in message:
            raise ValidationError({"email": [DUPLICATE_EMAIL]}) from exc
        if "users_username_key" in message:
            raise ValidationError({"username": [DUPLICATE_USERNAME]}) from exc
        raise


# -- /api/users/ ------------------------------------------------------------------------------------------


@router.get("/", dependencies=[Depends(LIST)], summary="List users (paginated, filterable)")
async def list_users(request: Request, user: CurrentUser, db: SessionDep) -> Response:
    query = order_users(filter_users(select(User), request.query_params), request.query_params)
    return api_response(request, await paginate(db, query, request, UserOut.render))


@router.post("/", dependencies=[Depends(LIST)], status_code=201, summary="Sign up (open to anyone)")
async def create_user(request: Request, user: OptionalUser, db: SessionDep) -> Response:
    fields = await validate_user_input(await request_data(request), db)
    password = fields.pop("password")
    created = await crud.create_user(db, fields, password)
    await save(db)
    return api_response(request, UserOut.render(created), 201)


@router.options("/", dependencies=[Depends(LIST)], include_in_schema=False)
async def list_metadata(request: Request, user: CurrentUser) -> Response:
    return api_response(request, user_metadata("User List", "POST"))


# -- /api/users/me/ (before {pk}: SimpleRouter lists extra actions first) ---------------------------------


@router.get("/me/", dependencies=[Depends(ME)], summary="The authenticated user")
async def me(request: Request, user: CurrentUser) -> Response:
    return api_response(request, UserOut.render(user))


@router.options("/me/", dependencies=[Depends(ME)], include_in_schema=False)
async def me_metadata(request: Request, user: CurrentUser) -> Response:
    return api_response(request, user_metadata("Me", None))


# -- /api/users/{pk}/ -------------------------------------------------------------------------------------

DETAIL_PATH = "/{pk:drfpk}/"


@router.get(DETAIL_PATH, dependencies=[Depends(DETAIL)], summary="One user")
async def retrieve_user(request: Request, user: CurrentUser, db: SessionDep) -> Response:
    return api_response(request, UserOut.render(await get_object(request, db)))


async def _update(request: Request, requester: User, db: AsyncSession, *, partial: bool) -> Response:
    instance = await get_object(request, db)
    if not may_change(request.method, requester, instance):
        raise PermissionDenied()
    fields = await validate_user_input(await request_data(request), db, instance=instance, partial=partial)
    password = fields.pop("password", None)
    for name, value in fields.items():
        setattr(instance, name, value)
    if password is not None:
        instance.password = await make_password(password)
    await save(db)
    return api_response(request, UserOut.render(instance))


@router.put(DETAIL_PATH, dependencies=[Depends(DETAIL)], summary="Replace a user (self or staff)")
async def update_user(request: Request, user: CurrentUser, db: SessionDep) -> Response:
    return await _update(request, user, db, partial=False)


@router.patch(DETAIL_PATH, dependencies=[Depends(DETAIL)], summary="Change a user (self or staff)")
async def partial_update_user(request: Request, user: CurrentUser, db: SessionDep) -> Response:
    return await _update(request, user, db, partial=True)


@router.delete(DETAIL_PATH, dependencies=[Depends(DETAIL)], status_code=204, summary="Delete a user")
async def destroy_user(request: Request, user: CurrentUser, db: SessionDep) -> Response:
    instance = await get_object(request, db)
    if not may_change(request.method, user, instance):
        raise PermissionDenied()
    await crud.delete_user(db, instance.id)
    await db.commit()
    return api_response(request, None, 204)


@router.options(DETAIL_PATH, dependencies=[Depends(DETAIL)], include_in_schema=False)
async def detail_metadata(request: Request, user: CurrentUser, db: SessionDep) -> Response:
    # SimpleMetadata offers PUT only if get_object() and the object permission pass for a PUT.
    try:
        instance = await get_object(request, db)
        action = "PUT" if may_change("PUT", user, instance) else None
    except APIException:
        action = None
    return api_response(request, user_metadata("User Instance", action))


# HEAD is answered by the GET handlers, as Django's View does.
router.add_api_route("/", list_users, methods=["HEAD"], dependencies=[Depends(LIST)], include_in_schema=False)
router.add_api_route("/me/", me, methods=["HEAD"], dependencies=[Depends(ME)], include_in_schema=False)
router.add_api_route(
    DETAIL_PATH, retrieve_user, methods=["HEAD"], dependencies=[Depends(DETAIL)], include_in_schema=False
)

fallbacks = [
    method_fallback(f"{PREFIX}/", LIST, requires_login=True),
    method_fallback(f"{PREFIX}/me/", ME, requires_login=True),
    method_fallback(f"{PREFIX}{DETAIL_PATH}", DETAIL, requires_login=True),
]
