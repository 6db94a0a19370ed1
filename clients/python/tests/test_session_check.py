"""`get_session_and_user` against the real binary, on each backend."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from conftest import SCOPED_KEYS, Adapter, Keys, Server, now

from authbridge import (
    SESSION_COOKIE_NAMES,
    AsyncClient,
    AuthBridgeForbidden,
    AuthBridgeUnauthenticated,
    Client,
    session_token_from_cookies,
)

MAX_AGE = 30 * 24 * 3600  # the server's default --session-max-age


@pytest.fixture
def client(server: Server, keys: Keys) -> Iterator[Client]:
    with Client(server.url, api_key=keys.reader) as instance:
        yield instance


def test_a_valid_session_gives_session_and_user_with_aware_datetimes(client: Client, adapter: Adapter) -> None:
    verified = now() - timedelta(days=3)
    user = adapter.create_user(name="Ada Lovelace", emailVerified=verified, image="https://example.com/ada.png")
    # Due to slide only in 23 hours: the read returns the stored expiry unchanged.
    expires = now() + timedelta(seconds=MAX_AGE) - timedelta(hours=1)
    created = adapter.create_session(user["id"], expires)

    found = client.get_session_and_user(created["sessionToken"])

    assert found is not None
    assert (found.session.id, found.session.user_id, found.session.session_token) == (
        created["id"],
        user["id"],
        created["sessionToken"],
    )
    assert found.session.expires == expires
    assert found.session.expires.tzinfo is timezone.utc
    assert (found.user.id, found.user.name, found.user.email, found.user.image) == (
        user["id"],
        "Ada Lovelace",
        user["email"],
        "https://example.com/ada.png",
    )
    assert found.user.email_verified == verified and found.user.email_verified.tzinfo is timezone.utc


def test_a_read_that_is_due_slides_the_expiry(client: Client, adapter: Adapter) -> None:
    user = adapter.create_user(emailVerified=None)
    created = adapter.create_session(user["id"], now() + timedelta(hours=1))
    assert client.get_session_and_user(created["sessionToken"], slide=False) is not None

    before = now()
    found = client.get_session_and_user(created["sessionToken"])
    after = now()

    assert found is not None and found.user.email_verified is None and found.user.name is None
    assert before + timedelta(seconds=MAX_AGE) <= found.session.expires <= after + timedelta(seconds=MAX_AGE)
    # A longer maxAge with updateAge 0 (slide on every read): the expiry moves to now + 60 days.
    before = now()
    again = client.get_session_and_user(created["sessionToken"], max_age=60 * 86400, update_age=0)
    assert again is not None and again.session.expires >= before + timedelta(days=60)


def test_unknown_and_expired_sessions_are_none(client: Client, adapter: Adapter) -> None:
    assert client.get_session_and_user(secrets.token_hex(32)) is None
    user = adapter.create_user()
    expired = adapter.create_session(user["id"], now() - timedelta(seconds=1))
    assert client.get_session_and_user(expired["sessionToken"]) is None
    # A cookie without a session cookie in it: no call, no session.
    assert client.get_session_and_user(session_token_from_cookies("theme=dark")) is None


def test_a_signed_out_session_is_none(client: Client, adapter: Adapter) -> None:
    user = adapter.create_user()
    created = adapter.create_session(user["id"])
    assert client.get_session_and_user(created["sessionToken"]) is not None
    adapter.call("deleteSession", {"sessionToken": created["sessionToken"]})
    assert client.get_session_and_user(created["sessionToken"]) is None


def test_a_deleted_user_has_no_session(client: Client, adapter: Adapter) -> None:
    user = adapter.create_user()
    created = adapter.create_session(user["id"])
    assert client.get_session_and_user(created["sessionToken"]) is not None
    adapter.call("deleteUser", {"userId": user["id"]})
    assert client.get_session_and_user(created["sessionToken"]) is None


@pytest.mark.parametrize("chunks", [1, 2, 3], ids=["whole", "2-chunks", "3-chunks"])
@pytest.mark.parametrize("name", SESSION_COOKIE_NAMES)
def test_every_cookie_name_and_chunking(client: Client, adapter: Adapter, name: str, chunks: int) -> None:
    user = adapter.create_user()
    created = adapter.create_session(user["id"])
    token = created["sessionToken"]
    if chunks == 1:
        parts = [f"{name}={token}"]
    else:
        size = -(-len(token) // chunks)
        parts = [f"{name}.{i}={token[i * size : (i + 1) * size]}" for i in range(chunks)]
    # Other cookies around it, in the order a browser might send them.
    header = "; ".join(["authjs.csrf-token=abc%7Cdef", *reversed(parts), "authjs.callback-url=http%3A%2F%2Flocalhost"])

    found = client.get_session_and_user(session_token_from_cookies(header))

    assert found is not None and found.session.id == created["id"] and found.user.id == user["id"]


def test_the_secure_cookie_wins_over_a_stale_plain_one(client: Client, adapter: Adapter) -> None:
    user = adapter.create_user()
    live = adapter.create_session(user["id"])
    stale = adapter.create_session(user["id"], now() - timedelta(days=1))
    header = f"authjs.session-token={stale['sessionToken']}; __Secure-authjs.session-token={live['sessionToken']}"
    found = client.get_session_and_user(session_token_from_cookies(header))
    assert found is not None and found.session.id == live["id"]


def test_the_request_id_reaches_the_server_and_tokens_never_reach_a_url(
    server: Server, keys: Keys, adapter: Adapter
) -> None:
    user = adapter.create_user()
    created = adapter.create_session(user["id"])
    urls: list[str] = []
    echoed: list[str | None] = []

    def record(response: httpx.Response) -> None:
        urls.append(str(response.request.url))
        echoed.append(response.headers.get("x-request-id"))

    request_id = "py-" + secrets.token_hex(8)
    with httpx.Client(event_hooks={"response": [record]}) as http:
        client = Client(server.url, api_key=keys.reader, http_client=http)
        assert client.get_session_and_user(created["sessionToken"], request_id=request_id) is not None
        manager = Client(server.url, api_key=keys.manager, http_client=http)
        rotated = manager.rotate_session(created["sessionToken"], request_id=request_id)
        assert rotated is not None
        assert client.get_session_and_user(rotated.session_token) is not None
    assert echoed[:2] == [request_id, request_id]
    assert server.logged(request_id)
    for url in urls:
        assert created["sessionToken"] not in url and rotated.session_token not in url
        assert keys.reader not in url and keys.manager not in url
    assert created["sessionToken"] not in server.log() and rotated.session_token not in server.log()


def test_a_wrong_key_is_unauthenticated(server: Server) -> None:
    wrong_key = "not-a-key-" + secrets.token_hex(8)
    with Client(server.url, api_key=wrong_key) as client, pytest.raises(AuthBridgeUnauthenticated) as caught:
        client.get_session_and_user(secrets.token_hex(32), request_id="rid-wrong-key")
    assert (caught.value.status, caught.value.code, caught.value.request_id) == (
        401,
        "unauthenticated",
        "rid-wrong-key",
    )


@pytest.mark.skipif(not SCOPED_KEYS, reason="the server in this tree has no scoped keys yet (conftest.SCOPED_KEYS)")
def test_each_key_can_do_only_its_part(server: Server, keys: Keys, adapter: Adapter) -> None:
    user = adapter.create_user()
    created = adapter.create_session(user["id"])
    with Client(server.url, api_key=keys.reader) as reader, Client(server.url, api_key=keys.manager) as manager:
        assert reader.get_session_and_user(created["sessionToken"]) is not None
        with pytest.raises(AuthBridgeForbidden) as caught:
            reader.list_sessions(user["id"])
        assert (caught.value.status, caught.value.code) == (403, "forbidden")
        with pytest.raises(AuthBridgeForbidden):
            reader.rotate_session(created["sessionToken"])
        with pytest.raises(AuthBridgeForbidden):
            manager.get_session_and_user(created["sessionToken"])
        with pytest.raises(AuthBridgeForbidden):
            manager.purge_expired()


def test_one_client_serves_many_threads(client: Client, adapter: Adapter) -> None:
    # Django's middleware shares one Client between the server's threads.
    user = adapter.create_user()
    tokens = [adapter.create_session(user["id"])["sessionToken"] for _ in range(4)]

    def check(i: int) -> str | None:
        found = client.get_session_and_user(tokens[i % 4] if i % 5 else secrets.token_hex(32))
        return found.user.id if found else None

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(check, range(80)))
    assert results == [user["id"] if i % 5 else None for i in range(80)]


@pytest.mark.anyio
async def test_the_async_client(server: Server, keys: Keys, adapter: Adapter) -> None:
    user = adapter.create_user()
    created = adapter.create_session(user["id"])
    async with AsyncClient(server.url, api_key=keys.reader) as client:
        found = await client.get_session_and_user(created["sessionToken"], request_id="rid-async")
        assert found is not None and found.user.id == user["id"]
        assert isinstance(found.session.expires, datetime) and found.session.expires.tzinfo is timezone.utc
        assert await client.get_session_and_user(secrets.token_hex(32)) is None
