"""`Client` and `AsyncClient`: authbridge's session check and session management over httpx.

Each call is described once, as a `_Call` (route, query, body, how to read the answer); the two
clients differ only in how they send it. Session tokens travel in JSON bodies only; ids that go
into a path are percent-encoded as one segment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from types import TracebackType
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from ._errors import INVALID_RESPONSE, AuthBridgeError, error_from_response, error_from_transport
from ._models import (
    InvalidResponse,
    PurgeResult,
    Session,
    SessionAndUser,
    SessionContext,
    SessionInfo,
    SessionStats,
    UserSessionStats,
)

try:
    __version__ = version("authbridge")
except PackageNotFoundError:  # imported from a source tree that was not installed
    __version__ = "0+unknown"

#: Seconds a call may take as a whole before it fails with `AuthBridgeUnavailable("timeout")`.
#: authbridge itself answers 503 after its pool timeout (2 s by default), well within this.
DEFAULT_TIMEOUT = 5.0

T = TypeVar("T")
Json = Any


@dataclass(frozen=True)
class _Call(Generic[T]):
    operation: str
    method: str
    path: str
    parse: Callable[[Json], T]
    # The body holds session tokens: keep it out of any repr.
    body: dict[str, Json] | None = field(default=None, repr=False)
    params: dict[str, str] | None = None


def _nonempty(value: str, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"`{name}` must be a non-empty string")
    return value


def _segment(value: str, name: str) -> str:
    return quote(_nonempty(value, name), safe="")


def _optional(parse: Callable[[Json], T]) -> Callable[[Json], T | None]:
    return lambda body: None if body is None else parse(body)


def _list_of(parse: Callable[[Json], T]) -> Callable[[Json], list[T]]:
    def read(body: Json) -> list[T]:
        if not isinstance(body, list):
            raise InvalidResponse("the answer is not a list")
        return [parse(item) for item in body]

    return read


def _deleted(body: Json) -> int:
    count = body.get("deleted") if isinstance(body, dict) else None
    if not isinstance(count, int) or isinstance(count, bool):
        raise InvalidResponse("`deleted` is not an integer")
    return count


def _with(body: dict[str, Json], **optional: Json) -> dict[str, Json]:
    """`body` plus the optional arguments that were given (an absent key means "server default")."""
    return body | {key: value for key, value in optional.items() if value is not None}


class _Calls:
    """The calls both clients offer, as data."""

    @staticmethod
    def get_session_and_user(
        token: str, max_age: int | None, update_age: int | None, slide: bool | None
    ) -> _Call[SessionAndUser | None]:
        body = _with({"sessionToken": token}, maxAge=max_age, updateAge=update_age, slide=slide)
        return _Call(
            "getSessionAndUser",
            "POST",
            "/v1/adapter/getSessionAndUser",
            _optional(SessionAndUser.from_json),
            body=body,
        )

    @staticmethod
    def list_sessions(user_id: str, active: bool, limit: int | None) -> _Call[list[SessionInfo]]:
        params = {"active": "true" if active else "false"}
        if limit is not None:
            params["limit"] = str(limit)
        path = f"/v1/users/{_segment(user_id, 'user_id')}/sessions"
        return _Call("listSessions", "GET", path, _list_of(SessionInfo.from_json), params=params)

    @staticmethod
    def revoke_session(session_id: str) -> _Call[SessionInfo | None]:
        path = f"/v1/sessions/{_segment(session_id, 'session_id')}"
        return _Call("revokeSession", "DELETE", path, _optional(SessionInfo.from_json))

    @staticmethod
    def revoke_user_sessions(user_id: str, keep_session_id: str | None) -> _Call[int]:
        params = None if keep_session_id is None else {"except": _nonempty(keep_session_id, "keep_session_id")}
        operation = "revokeAllSessions" if keep_session_id is None else "revokeOtherSessions"
        path = f"/v1/users/{_segment(user_id, 'user_id')}/sessions"
        return _Call(operation, "DELETE", path, _deleted, params=params)

    @staticmethod
    def rotate_session(
        token: str, max_age: int | None, context: SessionContext | None, rotate_after: int | None
    ) -> _Call[Session | None]:
        wire_context = None if context is None else context.to_json()
        body = _with(
            {"sessionToken": _nonempty(token, "session_token")},
            maxAge=max_age,
            context=wire_context,
            rotateAfter=rotate_after,
        )
        return _Call("rotateSession", "POST", "/v1/sessions/rotate", _optional(Session.from_json), body=body)

    @staticmethod
    def user_session_stats(user_id: str) -> _Call[UserSessionStats]:
        path = f"/v1/users/{_segment(user_id, 'user_id')}/session-stats"
        return _Call("userSessionStats", "GET", path, UserSessionStats.from_json)

    @staticmethod
    def session_stats() -> _Call[SessionStats]:
        return _Call("sessionStats", "GET", "/v1/stats/sessions", SessionStats.from_json)

    @staticmethod
    def purge_expired(batch_size: int | None) -> _Call[PurgeResult]:
        body = _with({}, batchSize=batch_size)
        return _Call("purgeExpired", "POST", "/v1/maintenance/purge-expired", PurgeResult.from_json, body=body)


class _Base:
    def __init__(self, url: str, api_key: str | None, timeout: float | httpx.Timeout) -> None:
        parsed = httpx.URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError("`url` must be an http:// or https:// URL, e.g. http://authbridge.internal:7777")
        self._url = url.rstrip("/")
        self._api_key = api_key
        self._timeout = timeout

    @property
    def url(self) -> str:
        return self._url

    def __repr__(self) -> str:
        # Never the key.
        return f"{type(self).__name__}(url={self._url!r})"

    def _request(self, call: _Call[Any], request_id: str | None) -> dict[str, Any]:
        headers = {"accept": "application/json", "user-agent": f"authbridge-python/{__version__}"}
        if self._api_key:
            headers["authorization"] = f"Bearer {self._api_key}"
        if request_id:
            headers["x-request-id"] = request_id
        request: dict[str, Any] = {
            "method": call.method,
            "url": self._url + call.path,
            "headers": headers,
            "params": call.params,
            "timeout": self._timeout,
        }
        if call.body is not None:
            request["json"] = call.body
        return request

    @staticmethod
    def _read(call: _Call[T], response: httpx.Response) -> T:
        if not response.is_success:
            raise error_from_response(call.operation, response)
        try:
            return call.parse(response.json())
        except (InvalidResponse, ValueError) as exc:
            raise AuthBridgeError(
                call.operation,
                INVALID_RESPONSE,
                status=response.status_code,
                detail=str(exc) if isinstance(exc, InvalidResponse) else "the body is not JSON",
                request_id=response.headers.get("x-request-id"),
            ) from None


class Client(_Base):
    """A blocking client; reuse one per process (it keeps connections open), also across threads.

    Args:
        url: authbridge's base URL, e.g. `http://authbridge.internal:7777` (a path prefix is kept).
        api_key: sent as `Authorization: Bearer`; for cookie checks a key with only the
            `session:read` scope, for the management calls one with `sessions:manage`
            (`purge_expired`: `maintenance`).
        timeout: seconds (or an `httpx.Timeout`) for every call, also with an injected client.
        http_client: an `httpx.Client` to send through (proxies, TLS settings, tracing); it is
            not closed by `close()`.
        transport: an `httpx.BaseTransport` for the client this one creates.
    """

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        http_client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(url, api_key, timeout)
        if http_client is not None and transport is not None:
            raise ValueError("give `http_client` or `transport`, not both")
        self._owned = http_client is None
        self._http = http_client if http_client is not None else httpx.Client(transport=transport)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._owned:
            self._http.close()

    def _send(self, call: _Call[T], request_id: str | None) -> T:
        try:
            response = self._http.request(**self._request(call, request_id))
        except httpx.RequestError as exc:
            raise error_from_transport(call.operation, exc, request_id) from exc
        return self._read(call, response)

    def get_session_and_user(
        self,
        session_token: str | None,
        *,
        max_age: int | None = None,
        update_age: int | None = None,
        slide: bool | None = None,
        request_id: str | None = None,
    ) -> SessionAndUser | None:
        """The live session of this cookie value and its user, or `None` (unknown, expired, deleted).

        `None` or `""` answers `None` without a request. The expiry slides as Auth.js would
        (server defaults, or `max_age`/`update_age` in seconds); `slide=False` only reads.
        Raises `AuthBridgeUnavailable` when authbridge cannot answer: never `None` for an outage.
        """
        if not session_token:
            return None
        return self._send(_Calls.get_session_and_user(session_token, max_age, update_age, slide), request_id)

    def list_sessions(
        self, user_id: str, *, active: bool = True, limit: int | None = None, request_id: str | None = None
    ) -> list[SessionInfo]:
        """The user's sessions, newest expiry first; `active=False` includes expired ones (`[]` for an unknown user)."""
        return self._send(_Calls.list_sessions(user_id, active, limit), request_id)

    def revoke_session(self, session_id: str, *, request_id: str | None = None) -> SessionInfo | None:
        """Signs one device out by session id; `None` when it was already gone."""
        return self._send(_Calls.revoke_session(session_id), request_id)

    def revoke_other_sessions(self, user_id: str, keep_session_id: str, *, request_id: str | None = None) -> int:
        """Signs the user out everywhere but `keep_session_id`; returns how many sessions were deleted."""
        return self._send(_Calls.revoke_user_sessions(user_id, keep_session_id), request_id)

    def revoke_all_sessions(self, user_id: str, *, request_id: str | None = None) -> int:
        """Signs the user out everywhere; returns how many sessions were deleted (expired ones too)."""
        return self._send(_Calls.revoke_user_sessions(user_id, None), request_id)

    def rotate_session(
        self,
        session_token: str,
        *,
        max_age: int | None = None,
        context: SessionContext | None = None,
        rotate_after: int | None = None,
        request_id: str | None = None,
    ) -> Session | None:
        """A new token and a fresh expiry (now + `max_age` seconds) for the same session.

        Rotated if and only if the answer's `session_token` differs from the one sent: set the
        cookie only then (setting an old token again would, after the grace window, look like a
        stolen token).

        Where the schema has the optional `previousSessionToken` and `rotatedAt` columns, the old
        token still reads the session for the server's `--rotation-grace` (the browser's requests
        already in flight carry it; docs/session-management.md); presented after that window it
        revokes the session (`--rotation-reuse`). Without those columns the old token stops working
        at once.

        `rotate_after` (seconds, >= 0): rotate only a token at least that old (since its last
        rotation, else since the session's creation); a younger token, or a previous token inside
        its grace window, is answered unchanged, with the token sent. It needs the rotation
        columns: without them the server answers 422 (`AuthBridgeError`, code
        `failed_precondition`).

        `None` when the session is missing or expired, after a reuse, and for a previous token
        sent without `rotate_after`. `context` is stored by servers that keep session metadata.
        """
        return self._send(_Calls.rotate_session(session_token, max_age, context, rotate_after), request_id)

    def user_session_stats(self, user_id: str, *, request_id: str | None = None) -> UserSessionStats:
        return self._send(_Calls.user_session_stats(user_id), request_id)

    def session_stats(self, *, request_id: str | None = None) -> SessionStats:
        return self._send(_Calls.session_stats(), request_id)

    def purge_expired(self, *, batch_size: int | None = None, request_id: str | None = None) -> PurgeResult:
        """Deletes expired sessions and verification tokens, batch by batch, and returns the totals."""
        return self._send(_Calls.purge_expired(batch_size), request_id)


class AsyncClient(_Base):
    """The same calls as `Client`, awaited. Create it and use it in one event loop.

    Takes `http_client: httpx.AsyncClient` and `transport: httpx.AsyncBaseTransport`; otherwise
    as `Client`.
    """

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(url, api_key, timeout)
        if http_client is not None and transport is not None:
            raise ValueError("give `http_client` or `transport`, not both")
        self._owned = http_client is None
        self._http = http_client if http_client is not None else httpx.AsyncClient(transport=transport)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owned:
            await self._http.aclose()

    async def _send(self, call: _Call[T], request_id: str | None) -> T:
        try:
            response = await self._http.request(**self._request(call, request_id))
        except httpx.RequestError as exc:
            raise error_from_transport(call.operation, exc, request_id) from exc
        return self._read(call, response)

    async def get_session_and_user(
        self,
        session_token: str | None,
        *,
        max_age: int | None = None,
        update_age: int | None = None,
        slide: bool | None = None,
        request_id: str | None = None,
    ) -> SessionAndUser | None:
        """See `Client.get_session_and_user`."""
        if not session_token:
            return None
        return await self._send(_Calls.get_session_and_user(session_token, max_age, update_age, slide), request_id)

    async def list_sessions(
        self, user_id: str, *, active: bool = True, limit: int | None = None, request_id: str | None = None
    ) -> list[SessionInfo]:
        return await self._send(_Calls.list_sessions(user_id, active, limit), request_id)

    async def revoke_session(self, session_id: str, *, request_id: str | None = None) -> SessionInfo | None:
        return await self._send(_Calls.revoke_session(session_id), request_id)

    async def revoke_other_sessions(self, user_id: str, keep_session_id: str, *, request_id: str | None = None) -> int:
        return await self._send(_Calls.revoke_user_sessions(user_id, keep_session_id), request_id)

    async def revoke_all_sessions(self, user_id: str, *, request_id: str | None = None) -> int:
        return await self._send(_Calls.revoke_user_sessions(user_id, None), request_id)

    async def rotate_session(
        self,
        session_token: str,
        *,
        max_age: int | None = None,
        context: SessionContext | None = None,
        rotate_after: int | None = None,
        request_id: str | None = None,
    ) -> Session | None:
        """See `Client.rotate_session`: rotated if and only if the answer's token differs from the one sent."""
        return await self._send(_Calls.rotate_session(session_token, max_age, context, rotate_after), request_id)

    async def user_session_stats(self, user_id: str, *, request_id: str | None = None) -> UserSessionStats:
        return await self._send(_Calls.user_session_stats(user_id), request_id)

    async def session_stats(self, *, request_id: str | None = None) -> SessionStats:
        return await self._send(_Calls.session_stats(), request_id)

    async def purge_expired(self, *, batch_size: int | None = None, request_id: str | None = None) -> PurgeResult:
        return await self._send(_Calls.purge_expired(batch_size), request_id)
