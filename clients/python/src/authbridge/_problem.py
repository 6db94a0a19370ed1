"""The problem documents (RFC 9457) that the FastAPI and Django integrations answer with."""

from __future__ import annotations

from http import HTTPStatus

from ._errors import AuthBridgeUnavailable

MEDIA_TYPE = "application/problem+json"

#: The detail of the 401 an app answers when a route needs a session and the request has none.
NO_SESSION = "this route needs a signed-in session: the session cookie is missing, unknown or expired"


def problem(status: int, code: str, detail: str, request_id: str | None) -> dict[str, object]:
    """A problem shaped like authbridge's own (`type`, `title`, `status`, `detail`, `code`, `requestId`)."""
    body: dict[str, object] = {
        "type": f"https://authbridge.dev/problems/{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if request_id:
        body["requestId"] = request_id
    return body


def unavailable(exc: AuthBridgeUnavailable) -> tuple[dict[str, object], dict[str, str]]:
    """The 503 body and headers for an authbridge outage: the session cannot be checked now."""
    body = problem(503, "unavailable", "the session cannot be checked now; retry shortly", exc.request_id)
    retry_after = exc.retry_after if exc.retry_after is not None else 1
    return body, {"retry-after": str(max(0, round(retry_after)))}
