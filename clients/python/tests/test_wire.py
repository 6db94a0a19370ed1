"""Error mapping, request shapes and secrets, against httpx's MockTransport and bare sockets (no server)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from authbridge import (
    AsyncClient,
    AuthBridgeError,
    AuthBridgeForbidden,
    AuthBridgeUnauthenticated,
    AuthBridgeUnavailable,
    Client,
    SessionContext,
)
from authbridge._models import format_datetime, parse_datetime

KEY = "key-" + "k" * 40
TOKEN = "f00d" * 16
EMAIL = "ada@example.com"
SESSION_AND_USER: dict[str, Any] = {
    "session": {"id": "s1", "sessionToken": TOKEN, "userId": "u1", "expires": "2030-01-02T03:04:05.678Z"},
    "user": {"id": "u1", "name": "Ada", "email": EMAIL, "emailVerified": None, "image": None},
}

Handler = Callable[[httpx.Request], httpx.Response]


def client_for(handler: Handler, **kwargs: Any) -> Client:
    return Client("http://authbridge.test:7777/prefix/", api_key=KEY, transport=httpx.MockTransport(handler), **kwargs)


def answer(
    status: int, body: Any, headers: dict[str, str] | None = None, media_type: str = "application/json"
) -> Handler:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            status, content=json.dumps(body).encode(), headers={"content-type": media_type, **(headers or {})}
        )

    return handle


def problem(status: int, code: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": f"https://authbridge.dev/problems/{code}",
        "title": "t",
        "status": status,
        "detail": f"detail of {code}",
        "code": code,
        "requestId": "rid-1",
        **extra,
    }


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (400, "invalid_argument", AuthBridgeError),
        (401, "unauthenticated", AuthBridgeUnauthenticated),
        (403, "forbidden", AuthBridgeForbidden),
        (404, "not_found", AuthBridgeError),
        (409, "already_exists", AuthBridgeError),
        (413, "payload_too_large", AuthBridgeError),
        (415, "unsupported_media_type", AuthBridgeError),
        (422, "failed_precondition", AuthBridgeError),
        (500, "internal", AuthBridgeError),
        (503, "unavailable", AuthBridgeUnavailable),
    ],
)
def test_problems_map_to_error_classes(status: int, code: str, kind: type[AuthBridgeError]) -> None:
    extra = {"field": "sessionToken"} if status == 400 else {}
    headers = {"retry-after": "1"} if status == 503 else {}
    client = client_for(answer(status, problem(status, code, **extra), headers, "application/problem+json"))
    with pytest.raises(AuthBridgeError) as caught:
        client.get_session_and_user(TOKEN)
    error = caught.value
    assert type(error) is kind
    assert (error.code, error.status, error.detail, error.request_id) == (code, status, f"detail of {code}", "rid-1")
    assert error.operation == "getSessionAndUser"
    assert error.field == ("sessionToken" if status == 400 else None)
    assert error.retry_after == (1.0 if status == 503 else None)
    assert code in str(error) and f"HTTP {status}" in str(error) and "rid-1" in str(error)
    if kind is not AuthBridgeError:
        assert isinstance(error, AuthBridgeError)


def test_forbidden_names_the_scope_in_detail() -> None:
    body = problem(403, "forbidden", detail="this key lacks the `sessions:manage` scope")
    client = client_for(answer(403, body, media_type="application/problem+json"))
    with pytest.raises(AuthBridgeForbidden, match="sessions:manage"):
        client.list_sessions("u1")


@pytest.mark.parametrize("status", [502, 503, 504])
def test_a_proxy_error_page_is_unavailable(status: int) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            status, text="<html>Bad Gateway</html>", headers={"content-type": "text/html", "x-request-id": "lb-7"}
        )

    with pytest.raises(AuthBridgeUnavailable) as caught:
        client_for(handle).get_session_and_user(TOKEN)
    assert (caught.value.code, caught.value.status, caught.value.request_id) == ("unavailable", status, "lb-7")


def test_a_non_problem_error_is_invalid_response() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(418, text="teapot")

    with pytest.raises(AuthBridgeError) as caught:
        client_for(handle).session_stats()
    assert type(caught.value) is AuthBridgeError
    assert (caught.value.code, caught.value.status) == ("invalid_response", 418)


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        json.dumps(
            {"session": {**SESSION_AND_USER["session"], "expires": "tomorrow"}, "user": SESSION_AND_USER["user"]}
        ),
        json.dumps(
            {
                "session": {**SESSION_AND_USER["session"], "expires": "2030-01-02T03:04:05"},
                "user": SESSION_AND_USER["user"],
            }
        ),
        json.dumps({"session": SESSION_AND_USER["session"]}),
        json.dumps([1]),
    ],
)
def test_a_2xx_that_breaks_the_contract_is_invalid_response(body: str) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=body, headers={"content-type": "application/json"})

    with pytest.raises(AuthBridgeError) as caught:
        client_for(handle).get_session_and_user(TOKEN)
    assert caught.value.code == "invalid_response"
    assert TOKEN not in str(caught.value)


def test_unknown_fields_and_missing_metadata_are_tolerated() -> None:
    listed = [
        {"id": "s1", "userId": "u1", "expires": "2030-01-01T00:00:00.000Z", "somethingNew": {"x": 1}},
        {
            "id": "s2",
            "userId": "u1",
            "expires": "2029-01-01T00:00:00.000Z",
            "createdAt": "2026-01-01T00:00:00.000Z",
            "updatedAt": None,
            "ipAddress": "203.0.113.9",
            "userAgent": "Firefox",
            "rotatedAt": "2026-01-02T00:00:00.000Z",
        },
    ]
    sessions = client_for(answer(200, listed)).list_sessions("u1")
    assert [s.id for s in sessions] == ["s1", "s2"]
    assert sessions[0].created_at is None and sessions[0].ip_address is None and sessions[0].user_agent is None
    assert sessions[0].rotated_at is None
    assert sessions[1].rotated_at == datetime(2026, 1, 2, tzinfo=timezone.utc)
    assert sessions[1].created_at == datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert (sessions[1].updated_at, sessions[1].ip_address, sessions[1].user_agent) == (None, "203.0.113.9", "Firefox")


def test_requests_carry_key_request_id_and_tokens_only_in_bodies() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        path = request.url.path
        if path.endswith("/getSessionAndUser"):
            return httpx.Response(200, json=SESSION_AND_USER)
        if path.endswith("/rotate"):
            return httpx.Response(200, json=SESSION_AND_USER["session"])
        if request.method == "DELETE" and "/users/" in path:
            return httpx.Response(200, json={"deleted": 2})
        if request.method == "DELETE":
            return httpx.Response(200, content=b"null", headers={"content-type": "application/json"})
        if path.endswith("/session-stats"):
            return httpx.Response(
                200, json={"totalSessions": 3, "activeSessions": 2, "expiredSessions": 1, "latestExpires": None}
            )
        if path.endswith("/stats/sessions"):
            return httpx.Response(
                200,
                json={"activeSessions": 1, "expiredSessions": 0, "usersWithActiveSessions": 1, "expiringWithin24h": 0},
            )
        if path.endswith("/purge-expired"):
            return httpx.Response(200, json={"sessionsDeleted": 4, "verificationTokensDeleted": 5})
        return httpx.Response(200, json=[])

    client = client_for(handle)
    odd_user = "user/with?odd#chars%"
    found = client.get_session_and_user(TOKEN, max_age=60, update_age=0, slide=False, request_id="req-42")
    assert found is not None and found.session.session_token == TOKEN
    assert client.list_sessions(odd_user, active=False, limit=5) == []
    assert client.revoke_session("sess/1") is None
    assert client.revoke_other_sessions(odd_user, "keep&me") == 2
    assert client.revoke_all_sessions(odd_user) == 2
    rotated = client.rotate_session(
        TOKEN, max_age=3600, context=SessionContext(ip_address="203.0.113.9", user_agent="UA"), rotate_after=60
    )
    assert rotated is not None
    client.rotate_session(TOKEN)
    assert client.user_session_stats(odd_user).total_sessions == 3
    assert client.session_stats().users_with_active_sessions == 1
    assert client.purge_expired(batch_size=10).verification_tokens_deleted == 5
    client.purge_expired()

    for request in seen:
        assert request.headers["authorization"] == f"Bearer {KEY}"
        assert TOKEN not in str(request.url) and KEY not in str(request.url)
        assert request.url.host == "authbridge.test" and request.url.path.startswith("/prefix/v1/")
    assert seen[0].headers["x-request-id"] == "req-42"
    assert all("x-request-id" not in r.headers for r in seen[1:])
    assert json.loads(seen[0].content) == {"sessionToken": TOKEN, "maxAge": 60, "updateAge": 0, "slide": False}
    assert seen[0].headers["content-type"] == "application/json"
    assert seen[1].url.raw_path == b"/prefix/v1/users/user%2Fwith%3Fodd%23chars%25/sessions?active=false&limit=5"
    assert seen[2].url.raw_path == b"/prefix/v1/sessions/sess%2F1"
    assert seen[3].url.params["except"] == "keep&me" and seen[3].method == "DELETE"
    assert seen[4].url.params.get("except") is None
    assert json.loads(seen[5].content) == {
        "sessionToken": TOKEN,
        "maxAge": 3600,
        "context": {"ipAddress": "203.0.113.9", "userAgent": "UA"},
        "rotateAfter": 60,
    }
    # No `context` or `rotateAfter` key for servers that predate them.
    assert json.loads(seen[6].content) == {"sessionToken": TOKEN}
    assert json.loads(seen[9].content) == {"batchSize": 10}
    assert json.loads(seen[10].content) == {}


def test_no_token_means_no_request() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    client = client_for(handle)
    assert client.get_session_and_user(None) is None
    assert client.get_session_and_user("") is None
    with pytest.raises(ValueError):
        client.list_sessions("")
    with pytest.raises(ValueError):
        client.revoke_other_sessions("u1", "")


def test_secrets_stay_out_of_reprs_and_messages() -> None:
    client = client_for(answer(200, SESSION_AND_USER))
    found = client.get_session_and_user(TOKEN)
    assert found is not None
    for text in (repr(client), repr(found), str(found), repr(found.session), repr(found.user)):
        assert TOKEN not in text and KEY not in text and EMAIL not in text, text
    assert "session_token" not in repr(found.session) and "u1" in repr(found.session)

    failing = client_for(answer(503, problem(503, "unavailable"), media_type="application/problem+json"))
    with pytest.raises(AuthBridgeUnavailable) as caught:
        failing.rotate_session(TOKEN)
    for text in (str(caught.value), repr(caught.value)):
        assert TOKEN not in text and KEY not in text


def test_dates_are_aware_utc() -> None:
    assert parse_datetime("2026-01-02T03:04:05.678Z", "d") == datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)
    shifted = parse_datetime("2026-01-02T05:04:05.678+02:00", "d")
    assert shifted.tzinfo is timezone.utc and shifted.hour == 3
    with pytest.raises(ValueError):
        parse_datetime("2026-01-02T03:04:05", "d")
    assert (
        format_datetime(datetime(2026, 1, 2, 5, 4, 5, 678999, tzinfo=timezone(timedelta(hours=2))))
        == "2026-01-02T03:04:05.678Z"
    )
    with pytest.raises(ValueError):
        format_datetime(datetime(2026, 1, 2))


def test_bad_urls_are_refused_at_construction() -> None:
    for url in ("authbridge:7777", "ftp://x", "http://"):
        with pytest.raises(ValueError):
            Client(url)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_timeout_is_unavailable(silent_port: int) -> None:
    client = Client(f"http://127.0.0.1:{silent_port}", api_key=KEY, timeout=0.3)
    with client, pytest.raises(AuthBridgeUnavailable) as caught:
        client.get_session_and_user(TOKEN, request_id="rid-t")
    assert (caught.value.code, caught.value.status, caught.value.request_id) == ("timeout", None, "rid-t")


def test_a_refused_connection_is_unavailable() -> None:
    client = Client(f"http://127.0.0.1:{closed_port()}", api_key=KEY)
    with client, pytest.raises(AuthBridgeUnavailable) as caught:
        client.get_session_and_user(TOKEN)
    assert (caught.value.code, caught.value.status) == ("network_error", None)
    assert TOKEN not in str(caught.value)


@pytest.mark.anyio
async def test_async_client_maps_the_same(silent_port: int) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/getSessionAndUser"):
            return httpx.Response(200, json=SESSION_AND_USER)
        return httpx.Response(403, json=problem(403, "forbidden"), headers={"content-type": "application/problem+json"})

    async with AsyncClient("http://authbridge.test", api_key=KEY, transport=httpx.MockTransport(handle)) as client:
        found = await client.get_session_and_user(TOKEN)
        assert found is not None and found.user.email == EMAIL
        assert found.session.expires == datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)
        with pytest.raises(AuthBridgeForbidden):
            await client.purge_expired()
    async with AsyncClient(f"http://127.0.0.1:{silent_port}", timeout=0.3) as slow:
        with pytest.raises(AuthBridgeUnavailable, match="timeout"):
            await slow.get_session_and_user(TOKEN)


def test_an_injected_http_client_is_used_and_not_closed() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"null", headers={"content-type": "application/json"})

    http = httpx.Client(transport=httpx.MockTransport(handle))
    with Client("http://authbridge.test", http_client=http) as client:
        assert client.get_session_and_user(TOKEN) is None
    assert not http.is_closed
    http.close()
    with pytest.raises(ValueError):
        Client("http://x", http_client=http, transport=httpx.MockTransport(handle))
