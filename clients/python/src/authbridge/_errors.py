"""Errors: every non-2xx answer and every failed exchange raises; none turns into `None`.

An outage must never look like "signed out": `None` from `get_session_and_user` means authbridge
answered that there is no such live session, nothing else.

Messages carry the operation, the problem's code, status, field and detail (which authbridge
keeps free of submitted values) and the request id: never a token, key or email.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

#: Codes for failures that produced no problem document.
NETWORK_ERROR = "network_error"  # connection refused or reset, DNS, TLS
TIMEOUT = "timeout"  # no answer within the client's timeout
INVALID_RESPONSE = "invalid_response"  # an answer that is not the contract's


class AuthBridgeError(Exception):
    """A call to authbridge failed.

    Attributes:
        code: the problem's `code` (`invalid_argument`, `unauthenticated`, `forbidden`,
            `not_found`, `unavailable`, ...), or `network_error`, `timeout`, `invalid_response`.
        status: the HTTP status, `None` when no answer arrived.
        detail: the service's explanation.
        request_id: the exchange's `X-Request-Id`, to find it in authbridge's log.
        field: for a 400, the path of the offending field (`session.userId`).
        retry_after: seconds from the answer's `Retry-After` (503).
        operation: the call that failed (`getSessionAndUser`, `listSessions`, ...).
    """

    def __init__(
        self,
        operation: str,
        code: str,
        *,
        status: int | None = None,
        detail: str | None = None,
        request_id: str | None = None,
        field: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        parts = [f"authbridge {operation} failed: {code}"]
        if status is not None:
            parts.append(f"(HTTP {status})")
        if field:
            parts.append(f"field {field}")
        if detail:
            parts.append(f"- {detail}")
        if request_id:
            parts.append(f"[request {request_id}]")
        super().__init__(" ".join(parts))
        self.operation = operation
        self.code = code
        self.status = status
        self.detail = detail
        self.request_id = request_id
        self.field = field
        self.retry_after = retry_after


class AuthBridgeUnauthenticated(AuthBridgeError):
    """401 `unauthenticated`: the API key is missing or wrong (a configuration error, not a signed-out user)."""


class AuthBridgeForbidden(AuthBridgeError):
    """403 `forbidden`: the key is valid but lacks the scope this call needs (e.g. `sessions:manage`)."""


class AuthBridgeUnavailable(AuthBridgeError):
    """authbridge or its database cannot answer now; retrying later may succeed.

    Raised for a 503 (database unreachable, pool exhausted, overload), for 502 and 504 from a
    proxy in front of it, for a refused or broken connection and for a timeout.
    """


_UNAVAILABLE_STATUSES = frozenset({502, 503, 504})


def error_from_response(operation: str, response: httpx.Response) -> AuthBridgeError:
    """The error for a non-2xx answer, from its problem document when it has one."""
    problem: Mapping[str, Any] = {}
    if "json" in response.headers.get("content-type", ""):
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, Mapping):
            problem = body

    def text(key: str) -> str | None:
        value = problem.get(key)
        return value if isinstance(value, str) and value else None

    status = response.status_code
    code = text("code") or INVALID_RESPONSE
    kind: type[AuthBridgeError] = AuthBridgeError
    if status in _UNAVAILABLE_STATUSES:
        kind = AuthBridgeUnavailable
        if code == INVALID_RESPONSE:  # a proxy's HTML page: still an outage
            code = "unavailable"
    elif code == "unauthenticated":
        kind = AuthBridgeUnauthenticated
    elif code == "forbidden":
        kind = AuthBridgeForbidden
    return kind(
        operation,
        code,
        status=status,
        detail=text("detail") or text("title"),
        request_id=text("requestId") or response.headers.get("x-request-id"),
        field=text("field"),
        retry_after=_retry_after(response.headers.get("retry-after")),
    )


def error_from_transport(operation: str, exc: httpx.RequestError, request_id: str | None) -> AuthBridgeError:
    """The error for an exchange that produced no answer."""
    if isinstance(exc, httpx.TimeoutException):
        return AuthBridgeUnavailable(operation, TIMEOUT, detail="no answer in time", request_id=request_id)
    if isinstance(exc, (httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError)):
        # The exception's own text ("[Errno 111] Connection refused") holds no secret.
        return AuthBridgeUnavailable(operation, NETWORK_ERROR, detail=str(exc) or None, request_id=request_id)
    return AuthBridgeError(operation, NETWORK_ERROR, detail=type(exc).__name__, request_id=request_id)


def _retry_after(value: str | None) -> float | None:
    # authbridge sends delta-seconds; an HTTP date (from a proxy) is not worth parsing here.
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
