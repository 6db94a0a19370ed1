"""Django integration: a middleware that resolves the request's Auth.js session, and a decorator.

settings.py:

    MIDDLEWARE = [..., "authbridge.django.AuthBridgeMiddleware"]
    AUTHBRIDGE_URL = "http://authbridge.internal:7777"
    AUTHBRIDGE_API_KEY = os.environ["AUTHBRIDGE_SESSION_READ_KEY"]   # a `session:read` key
    AUTHBRIDGE_TIMEOUT = 5.0                                          # optional, seconds
    AUTHBRIDGE_SESSION_COOKIE_NAMES = [...]                           # optional, see SESSION_COOKIE_NAMES

views.py:

    from authbridge.django import session_required

    @session_required
    def me(request):
        return JsonResponse({"userId": request.auth_user.id})

The middleware is **eager**: before the view runs it sets `request.auth_session` (a `Session`)
and `request.auth_user` (a `User`), both `None` when the request has no live session. A request
without a session cookie costs nothing; one with a cookie costs one authbridge call (about a
millisecond on the same network). Eager, because a lazy object can never be `None`
(`request.auth_user is None` would always be false) and because an outage is better answered
before the view than in the middle of it: when authbridge or its database cannot answer, the
middleware answers 503 problem `unavailable` with `Retry-After` and the view does not run. An
outage never looks like "signed out". Other authbridge errors (a wrong key, a key without the
`session:read` scope) propagate as exceptions: a misconfiguration, a 500.

`session_required` answers 401 problem `unauthenticated` when `request.auth_session` is `None`
(for sync views; it raises `TypeError` for an async one). The request's `X-Request-Id` is passed
to authbridge.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from functools import wraps
from typing import Concatenate, ParamSpec, TypeVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase

from ._client import DEFAULT_TIMEOUT, Client
from ._cookies import SESSION_COOKIE_NAMES, session_token_from_cookies
from ._errors import AuthBridgeUnavailable
from ._models import Session, User
from ._problem import MEDIA_TYPE, NO_SESSION, problem, unavailable

__all__ = ["AuthBridgeMiddleware", "AuthenticatedRequest", "session_required"]

P = ParamSpec("P")
R = TypeVar("R", bound=HttpRequest)


class AuthenticatedRequest(HttpRequest):
    """For type annotations only: an `HttpRequest` that went through `AuthBridgeMiddleware`."""

    auth_session: Session | None
    auth_user: User | None


def _problem_response(status: int, body: dict[str, object], headers: dict[str, str] | None = None) -> HttpResponse:
    response = HttpResponse(json.dumps(body), status=status, content_type=MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


class AuthBridgeMiddleware:
    """Sets `request.auth_session` and `request.auth_user` (eagerly; `None` without a live session)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        url = getattr(settings, "AUTHBRIDGE_URL", None)
        if not url:
            raise ImproperlyConfigured("AuthBridgeMiddleware needs settings.AUTHBRIDGE_URL")
        self.get_response = get_response
        self.client = Client(
            url,
            api_key=getattr(settings, "AUTHBRIDGE_API_KEY", None),
            timeout=getattr(settings, "AUTHBRIDGE_TIMEOUT", DEFAULT_TIMEOUT),
        )
        self.cookie_names = tuple(getattr(settings, "AUTHBRIDGE_SESSION_COOKIE_NAMES", SESSION_COOKIE_NAMES))

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        token = session_token_from_cookies(request.META.get("HTTP_COOKIE"), self.cookie_names)
        try:
            found = self.client.get_session_and_user(token, request_id=request.headers.get("x-request-id"))
        except AuthBridgeUnavailable as exc:
            body, headers = unavailable(exc)
            return _problem_response(503, body, headers)
        # HttpRequest has no such attributes in its type; `AuthenticatedRequest` declares them.
        setattr(request, "auth_session", found.session if found else None)  # noqa: B010
        setattr(request, "auth_user", found.user if found else None)  # noqa: B010
        return self.get_response(request)


def session_required(
    view: Callable[Concatenate[R, P], HttpResponseBase],
) -> Callable[Concatenate[R, P], HttpResponseBase]:
    """Answers 401 problem `unauthenticated` instead of running `view` when the request has no live session.

    Annotate the view's request as `AuthenticatedRequest` to use `auth_session` / `auth_user` typed.
    """
    if inspect.iscoroutinefunction(view):
        raise TypeError("session_required decorates sync views only")

    @wraps(view)
    def wrapped(request: R, /, *args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
        if not hasattr(request, "auth_session"):
            raise ImproperlyConfigured("session_required needs authbridge.django.AuthBridgeMiddleware in MIDDLEWARE")
        if getattr(request, "auth_session") is None:  # noqa: B009
            return _problem_response(
                401, problem(401, "unauthenticated", NO_SESSION, request.headers.get("x-request-id"))
            )
        return view(request, *args, **kwargs)

    return wrapped
