"""The FastAPI dependencies through FastAPI's TestClient, against the real binary."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from conftest import Adapter, Backend, Keys, Server, StartServer, now
from fastapi import FastAPI
from fastapi.testclient import TestClient
from test_unavailable import OUTAGE_FLAGS

from authbridge import AsyncClient
from authbridge.fastapi import CurrentSession, OptionalSession, install


def make_app(url: str, key: str, calls: list[str] | None = None) -> FastAPI:
    """An app as the README shows it; `calls` records each request made to authbridge."""

    async def record(request: httpx.Request) -> None:
        if calls is not None:
            calls.append(request.url.path)

    http = httpx.AsyncClient(event_hooks={"request": [record]})
    authbridge = AsyncClient(url, api_key=key, http_client=http)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await authbridge.aclose()
        await http.aclose()

    app = FastAPI(lifespan=lifespan)
    install(app, authbridge)

    @app.get("/me")
    async def me(auth: CurrentSession) -> dict[str, Any]:
        return {"userId": auth.user.id, "sessionId": auth.session.id, "expires": auth.session.expires.isoformat()}

    @app.get("/home")
    async def home(auth: OptionalSession) -> dict[str, Any]:
        return {"signedIn": auth is not None}

    @app.get("/both")
    async def both(auth: CurrentSession, maybe: OptionalSession) -> dict[str, Any]:
        return {"same": maybe is auth}

    return app


@pytest.fixture
def web(server: Server, keys: Keys) -> Iterator[tuple[TestClient, list[str]]]:
    calls: list[str] = []
    with TestClient(make_app(server.url, keys.reader, calls)) as client:
        yield client, calls


def cookie(token: str, name: str = "__Secure-authjs.session-token") -> dict[str, str]:
    return {"cookie": f"authjs.csrf-token=x; {name}={token}"}


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert (body["status"], body["code"], body["type"]) == (status, code, f"https://authbridge.dev/problems/{code}")
    return body


def test_a_valid_cookie_resolves_the_session(web: tuple[TestClient, list[str]], adapter: Adapter) -> None:
    client, calls = web
    user = adapter.create_user()
    created = adapter.create_session(user["id"])
    for name in ("__Secure-authjs.session-token", "next-auth.session-token"):
        response = client.get("/me", headers=cookie(created["sessionToken"], name))
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["userId"], body["sessionId"]) == (user["id"], created["id"])
        assert body["expires"].endswith("+00:00")
    token = created["sessionToken"]
    chunked = {"cookie": f"authjs.session-token.1={token[32:]}; authjs.session-token.0={token[:32]}"}
    assert client.get("/me", headers=chunked).json()["userId"] == user["id"]
    assert client.get("/home", headers=cookie(created["sessionToken"])).json() == {"signedIn": True}

    calls.clear()
    assert client.get("/both", headers=cookie(created["sessionToken"])).json() == {"same": True}
    assert calls == ["/v1/adapter/getSessionAndUser"]  # one call for both dependencies


def test_no_unknown_expired_or_signed_out_session_is_401(web: tuple[TestClient, list[str]], adapter: Adapter) -> None:
    client, calls = web
    user = adapter.create_user()
    expired = adapter.create_session(user["id"], now() - timedelta(minutes=1))
    signed_out = adapter.create_session(user["id"])
    adapter.call("deleteSession", {"sessionToken": signed_out["sessionToken"]})

    calls.clear()
    body = assert_problem(client.get("/me", headers={"x-request-id": "rid-none"}), 401, "unauthenticated")
    assert body["requestId"] == "rid-none"
    assert calls == []  # no cookie, no call
    assert client.get("/home").json() == {"signedIn": False}
    for token in (secrets.token_hex(32), expired["sessionToken"], signed_out["sessionToken"]):
        assert_problem(client.get("/me", headers=cookie(token)), 401, "unauthenticated")
        assert client.get("/home", headers=cookie(token)).json() == {"signedIn": False}


def test_the_request_id_is_passed_through(web: tuple[TestClient, list[str]], server: Server, adapter: Adapter) -> None:
    client, _ = web
    created = adapter.create_session(adapter.create_user()["id"])
    request_id = "fastapi-" + secrets.token_hex(6)
    assert client.get("/me", headers={**cookie(created["sessionToken"]), "x-request-id": request_id}).status_code == 200
    assert server.logged(request_id)


def test_an_outage_is_503_not_401(start_server: StartServer, backend: Backend, keys: Keys) -> None:
    server = start_server(*OUTAGE_FLAGS)
    adapter = Adapter(server, keys)
    token = adapter.create_session(adapter.create_user()["id"])["sessionToken"]
    adapter.http.close()
    with TestClient(make_app(server.url, keys.reader)) as client:
        assert client.get("/me", headers=cookie(token)).status_code == 200
        with backend.unreachable(server.database_url):
            for path in ("/me", "/home"):
                response = client.get(path, headers={**cookie(token), "x-request-id": "rid-503"})
                body = assert_problem(response, 503, "unavailable")
                assert body["requestId"] == "rid-503"
                assert int(response.headers["retry-after"]) >= 0
                assert token not in response.text
        assert client.get("/me", headers=cookie(token)).status_code == 200
        server.stop()
        assert_problem(client.get("/me", headers=cookie(token)), 503, "unavailable")
        # No cookie: nothing to check, so no outage to report.
        assert_problem(client.get("/me"), 401, "unauthenticated")


def test_install_refuses_to_run_in_the_lifespan(server: Server, keys: Keys) -> None:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        install(app, AsyncClient(server.url, api_key=keys.reader))
        yield

    with pytest.raises(RuntimeError, match="before the app starts"), TestClient(FastAPI(lifespan=lifespan)):
        pass


def test_a_misconfigured_key_is_an_error_not_a_signed_out_user(server: Server, adapter: Adapter) -> None:
    token = adapter.create_session(adapter.create_user()["id"])["sessionToken"]
    with TestClient(make_app(server.url, "wrong-key"), raise_server_exceptions=False) as client:
        assert client.get("/me", headers=cookie(token)).status_code == 500
