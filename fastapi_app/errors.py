"""DRF's exceptions and Django's error answers, and the handlers that render them.

Every API error has DRF's shape: ``{"detail": "..."}`` for a single message, a validation error's field
dict (or list) as is, 400 instead of FastAPI's 422, 401 with ``WWW-Authenticate: Token``
(TokenAuthentication is the legacy's first authenticator), and the view's ``Allow`` header. URLs no route
matches get Django's ``APPEND_SLASH`` redirect or its non-DEBUG HTML 404 page; unexpected errors its
HTML 500 page. A write that loses a race on a unique index gets the validator's 400 (``constraints.py``).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from .constraints import unique_violation_errors
from .responses import api_response, django_error_page, slash_redirect_or_404

__all__ = [
    "APIException",
    "AuthenticationFailed",
    "MethodNotAllowed",
    "NotAcceptable",
    "NotAuthenticated",
    "NotFound",
    "ParseError",
    "PermissionDenied",
    "UnsupportedMediaType",
    "ValidationError",
    "install_handlers",
]

logger = logging.getLogger("fastapi_app.errors")


class APIException(Exception):
    """``rest_framework.exceptions.APIException``: a status code and a detail (string, list or dict)."""

    status_code = 500
    default_detail: Any = "A server error occurred."

    def __init__(self, detail: Any = None) -> None:
        self.detail = self.default_detail if detail is None else detail
        super().__init__(self.detail)


class ValidationError(APIException):
    status_code = 400
    default_detail = "Invalid input."


class ParseError(APIException):
    status_code = 400
    default_detail = "Malformed request."


class AuthenticationFailed(APIException):
    status_code = 401
    default_detail = "Incorrect authentication credentials."


class NotAuthenticated(APIException):
    status_code = 401
    default_detail = "Authentication credentials were not provided."


class PermissionDenied(APIException):
    status_code = 403
    default_detail = "You do not have permission to perform this action."


class NotFound(APIException):
    status_code = 404
    default_detail = "Not found."


class MethodNotAllowed(APIException):
    status_code = 405

    def __init__(self, method: str) -> None:
        super().__init__(f'Method "{method}" not allowed.')


class NotAcceptable(APIException):
    status_code = 406
    default_detail = "Could not satisfy the request Accept header."


class UnsupportedMediaType(APIException):
    status_code = 415

    def __init__(self, media_type: str) -> None:
        super().__init__(f'Unsupported media type "{media_type}" in request.')


def api_exception_response(request: Request, exc: APIException) -> Response:
    """DRF's ``exception_handler``: list/dict details as they are, anything else under ``detail``."""
    if getattr(exc, "html_page", False):
        return django_error_page(request, exc.status_code)
    data = exc.detail if isinstance(exc.detail, list | dict) else {"detail": exc.detail}
    headers = {"WWW-Authenticate": "Token"} if exc.status_code == 401 else None
    return api_response(request, data, exc.status_code, headers=headers)


async def _api_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, APIException)
    return api_exception_response(request, exc)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        # No route matched: what Django's URL resolver and CommonMiddleware answer.
        return slash_redirect_or_404(request)
    return django_error_page(request, exc.status_code)


async def _request_validation(request: Request, exc: Exception) -> Response:
    # Handlers never declare typed parameters FastAPI could reject; should one slip in, answer as DRF does.
    return api_response(request, {"detail": "Invalid input."}, 400)


async def _server_error(request: Request, exc: Exception) -> Response:
    logger.exception("Internal Server Error: %s", request.url.path, exc_info=exc)
    return django_error_page(request, 500)


async def _integrity_error(request: Request, exc: Exception) -> Response:
    # A write that lost a race on a unique index: the validator's 400, as UserSerializer._save answers
    # (constraints.py). The request's session has rolled back by now.
    assert isinstance(exc, IntegrityError)
    errors = unique_violation_errors(exc)
    if errors is None:
        return await _server_error(request, exc)
    return api_exception_response(request, ValidationError(errors))


def install_handlers(app: FastAPI) -> None:
    """Register the DRF/Django-shaped handlers on ``app``."""
    app.add_exception_handler(APIException, _api_exception)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(Exception, _server_error)
