"""The Django middleware and decorator through Django's test client, against the real binary."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import django
import pytest
from conftest import Adapter, Backend, Keys, Server, StartServer, now
from test_unavailable import OUTAGE_FLAGS

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_settings")
django.setup()

from django.core.exceptions import ImproperlyConfigured  # noqa: E402
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.test import Client as DjangoClient  # noqa: E402
from django.test import override_settings  # noqa: E402
from django.test.client import RequestFactory  # noqa: E402

from authbridge.django import session_required  # noqa: E402


@pytest.fixture
def web(server: Server, keys: Keys) -> Iterator[DjangoClient]:
    with override_settings(AUTHBRIDGE_URL=server.url, AUTHBRIDGE_API_KEY=keys.reader):
        yield DjangoClient()


def cookie(token: str, name: str = "__Secure-authjs.session-token") -> dict[str, str]:
    return {"cookie": f"csrftoken=x; {name}={token}"}


def problem_of(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["content-type"] == "application/problem+json"
    body: dict[str, Any] = json.loads(response.content)
    assert (body["status"], body["code"], body["type"]) == (status, code, f"https://authbridge.dev/problems/{code}")
    return body


def test_a_valid_cookie_sets_session_and_user(web: DjangoClient, adapter: Adapter) -> None:
    user = adapter.create_user()
    created = adapter.create_session(user["id"])
    token = created["sessionToken"]
    for name in ("__Secure-authjs.session-token", "authjs.session-token", "__Secure-next-auth.session-token"):
        response = web.get("/me", headers=cookie(token, name))
        assert response.status_code == 200, response.content
        body = json.loads(response.content)
        assert (body["userId"], body["sessionId"]) == (user["id"], created["id"])
        assert body["expires"].endswith("+00:00")
    chunked = {"cookie": f"next-auth.session-token.0={token[:40]}; next-auth.session-token.1={token[40:]}"}
    assert json.loads(web.get("/me", headers=chunked).content)["userId"] == user["id"]
    assert json.loads(web.get("/home", headers=cookie(token)).content) == {"signedIn": True}


def test_no_unknown_expired_or_deleted_session_is_401(web: DjangoClient, adapter: Adapter) -> None:
    user = adapter.create_user()
    expired = adapter.create_session(user["id"], now() - timedelta(seconds=5))
    signed_out = adapter.create_session(user["id"])
    adapter.call("deleteSession", {"sessionToken": signed_out["sessionToken"]})
    other = adapter.create_user()
    orphan = adapter.create_session(other["id"])
    adapter.call("deleteUser", {"userId": other["id"]})

    body = problem_of(web.get("/me", headers={"x-request-id": "rid-dj"}), 401, "unauthenticated")
    assert body["requestId"] == "rid-dj"
    assert json.loads(web.get("/home").content) == {"signedIn": False}
    for token in (secrets.token_hex(32), expired["sessionToken"], signed_out["sessionToken"], orphan["sessionToken"]):
        problem_of(web.get("/me", headers=cookie(token)), 401, "unauthenticated")
        assert json.loads(web.get("/home", headers=cookie(token)).content) == {"signedIn": False}


def test_the_request_id_is_passed_through(web: DjangoClient, server: Server, adapter: Adapter) -> None:
    token = adapter.create_session(adapter.create_user()["id"])["sessionToken"]
    request_id = "django-" + secrets.token_hex(6)
    assert web.get("/me", headers={**cookie(token), "x-request-id": request_id}).status_code == 200
    assert server.logged(request_id)


def test_an_outage_is_503_before_the_view(start_server: StartServer, backend: Backend, keys: Keys) -> None:
    server = start_server(*OUTAGE_FLAGS)
    adapter = Adapter(server, keys)
    token = adapter.create_session(adapter.create_user()["id"])["sessionToken"]
    adapter.http.close()
    with override_settings(AUTHBRIDGE_URL=server.url, AUTHBRIDGE_API_KEY=keys.reader):
        web = DjangoClient()
        assert web.get("/me", headers=cookie(token)).status_code == 200
        with backend.unreachable(server.database_url):
            for path in ("/me", "/home"):
                response = web.get(path, headers={**cookie(token), "x-request-id": "rid-503"})
                assert problem_of(response, 503, "unavailable")["requestId"] == "rid-503"
                assert int(response["retry-after"]) >= 0
                assert token not in response.content.decode()
        assert web.get("/me", headers=cookie(token)).status_code == 200
        server.stop()
        problem_of(web.get("/home", headers=cookie(token)), 503, "unavailable")
        assert json.loads(web.get("/home").content) == {"signedIn": False}  # no cookie, no call


def test_the_decorator_needs_the_middleware() -> None:
    @session_required
    def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse("ok")

    with pytest.raises(ImproperlyConfigured):
        view(RequestFactory().get("/"))

    async def async_view(request: HttpRequest) -> HttpResponse:
        return HttpResponse("ok")

    with pytest.raises(TypeError):
        session_required(async_view)  # type: ignore[arg-type]


def test_a_missing_url_setting_is_improperly_configured() -> None:
    from authbridge.django import AuthBridgeMiddleware

    with override_settings(AUTHBRIDGE_URL=None), pytest.raises(ImproperlyConfigured):
        AuthBridgeMiddleware(lambda request: HttpResponse())
