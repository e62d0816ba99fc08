"""DRF's exceptions, as the legacy raises them, and the handlers that render them as DRF does.

An API error is ``{"detail": "..."}``, or its detail as it is when that is a list or a dict (validation
errors; simplejwt's ``{"detail", "code", "messages"}``); a 401 carries ``WWW-Authenticate`` from the first
authentication class (simplejwt's ``Bearer realm="api"``). Anything unexpected is Django's HTML 500 page.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from .rendering import api_response, django_error_page, slash_redirect_or_404

__all__ = [
    "APIException",
    "GunicornCrash",
    "AuthenticationFailed",
    "NotAcceptable",
    "NotAuthenticated",
    "NotFound",
    "ParseError",
    "UnsupportedMediaType",
    "ValidationError",
    "install_handlers",
]

# simplejwt's JWTAuthentication.authenticate_header with AUTH_HEADER_TYPES = ("Bearer",).
WWW_AUTHENTICATE = 'Bearer realm="api"'


class APIException(Exception):
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


class NotFound(APIException):
    status_code = 404
    default_detail = "Not found."


class NotAcceptable(APIException):
    status_code = 406
    default_detail = "Could not satisfy the request Accept header."


class UnsupportedMediaType(APIException):
    status_code = 415

    def __init__(self, media_type: str) -> None:
        super().__init__(f'Unsupported media type "{media_type}" in request.')


class GunicornCrash(Exception):
    """The legacy fails so badly that gunicorn answers with its own 500 page (``middleware.py``)."""


async def _api_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, APIException)
    data = exc.detail if isinstance(exc.detail, list | dict) else {"detail": exc.detail}
    headers = {"WWW-Authenticate": WWW_AUTHENTICATE} if exc.status_code == 401 else None
    return api_response(request, data, exc.status_code, headers=headers)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        # No route matched: what Django's URL resolver and CommonMiddleware (APPEND_SLASH) answer.
        return slash_redirect_or_404(request)
    return django_error_page(exc.status_code)


async def _request_validation(request: Request, exc: Exception) -> Response:
    # No handler declares a body or query parameter FastAPI could reject (each parses as DRF does).
    return django_error_page(500)


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(APIException, _api_exception)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _request_validation)
