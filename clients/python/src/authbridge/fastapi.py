"""FastAPI integration: dependencies that resolve the request's Auth.js session.

    from collections.abc import Sequence
from typing import Annotated
    from fastapi import Depends, FastAPI
    from authbridge import AsyncClient, SessionAndUser
    from authbridge.fastapi import current_session, install

    app = FastAPI(lifespan=...)           # close the client on shutdown: await client.aclose()
    install(app, AsyncClient(URL, api_key=SESSION_READ_KEY))

    @app.get("/me")
    async def me(auth: Annotated[SessionAndUser, Depends(current_session)]) -> dict[str, str]:
        return {"userId": auth.user.id}

- `current_session`: the session and user, or a 401 problem when the cookie is missing, unknown
  or expired.
- `optional_session`: the same, or `None` instead of the 401.
- Both answer 503 problem `unavailable` (with `Retry-After`) when authbridge or its database cannot
  answer: an outage never looks like "signed out".
- Other authbridge errors (a wrong API key, a key without the `session:read` scope) propagate:
  they are the app's misconfiguration, a 500, not the visitor's fault.

One authbridge call per request, however many dependencies ask (FastAPI caches
`optional_session`, which `current_session` builds on). The request's `X-Request-Id` is passed
through. `install` registers the exception handler that renders the problems as
`application/problem+json`; without it FastAPI still answers the same statuses, as
`{"detail": ...}`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from ._client import AsyncClient
from ._cookies import SESSION_COOKIE_NAMES, session_token_from_cookies
from ._errors import AuthBridgeUnavailable
from ._models import SessionAndUser
from ._problem import MEDIA_TYPE, NO_SESSION, problem, unavailable

__all__ = ["CurrentSession", "OptionalSession", "SessionProblem", "current_session", "install", "optional_session"]


class SessionProblem(HTTPException):
    """The 401 or 503 the dependencies raise; `install` renders it as a problem document."""

    def __init__(self, status: int, body: dict[str, object], headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code=status, detail=str(body["detail"]), headers=headers)
        self.body = body


def install(app: FastAPI, client: AsyncClient, cookie_names: Sequence[str] = SESSION_COOKIE_NAMES) -> None:
    """Makes `client` the one the dependencies use (`app.state.authbridge`) and renders their problems.

    Call it where the app is created: Starlette fixes its exception handlers when the app first
    runs, lifespan included, so a later call raises `RuntimeError`. The app does not own the
    client: close it in the app's lifespan (`await client.aclose()`). `cookie_names` replaces the
    session cookie names looked for (see `SESSION_COOKIE_NAMES`).
    """
    if app.middleware_stack is not None:
        raise RuntimeError("authbridge.fastapi.install() must run before the app starts (not in its lifespan)")
    app.state.authbridge = client
    app.state.authbridge_cookie_names = tuple(cookie_names)
    app.add_exception_handler(SessionProblem, _render)


async def _render(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, SessionProblem):  # registered for SessionProblem only
        raise exc
    return JSONResponse(exc.body, status_code=exc.status_code, headers=exc.headers, media_type=MEDIA_TYPE)


async def optional_session(request: Request) -> SessionAndUser | None:
    """The request's session and user, `None` when it has no live session; 503 on an outage."""
    client = getattr(request.app.state, "authbridge", None)
    if not isinstance(client, AsyncClient):
        raise RuntimeError("authbridge.fastapi: call install(app, AsyncClient(...)) before serving requests")
    names = getattr(request.app.state, "authbridge_cookie_names", SESSION_COOKIE_NAMES)
    # HTTP/2 may carry the cookies in several `cookie` fields (RFC 9113, 8.2.3).
    token = session_token_from_cookies("; ".join(request.headers.getlist("cookie")), names)
    try:
        return await client.get_session_and_user(token, request_id=request.headers.get("x-request-id"))
    except AuthBridgeUnavailable as exc:
        body, headers = unavailable(exc)
        raise SessionProblem(503, body, headers) from exc


async def current_session(
    request: Request, found: Annotated[SessionAndUser | None, Depends(optional_session)]
) -> SessionAndUser:
    """The request's session and user; a 401 problem when it has no live session."""
    if found is None:
        raise SessionProblem(401, problem(401, "unauthenticated", NO_SESSION, request.headers.get("x-request-id")))
    return found


#: `auth: CurrentSession` in a route's parameters.
CurrentSession = Annotated[SessionAndUser, Depends(current_session)]
#: `auth: OptionalSession` in a route's parameters.
OptionalSession = Annotated[SessionAndUser | None, Depends(optional_session)]
