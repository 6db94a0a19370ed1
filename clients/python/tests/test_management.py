"""The session-management calls end to end, on each backend."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from conftest import Adapter, Keys, Server, StartServer, now

from authbridge import AsyncClient, AuthBridgeError, Client, SessionInfo


@pytest.fixture
def manager(server: Server, keys: Keys) -> Iterator[Client]:
    with Client(server.url, api_key=keys.manager) as instance:
        yield instance


@pytest.fixture
def reader(server: Server, keys: Keys) -> Iterator[Client]:
    with Client(server.url, api_key=keys.reader) as instance:
        yield instance


def sessions_of(adapter: Adapter, user_id: str, *days: float) -> list[dict[str, str]]:
    """Sessions expiring in `days` days each (negative: expired)."""
    return [adapter.create_session(user_id, now() + timedelta(days=d)) for d in days]


def test_list_sessions(manager: Client, adapter: Adapter) -> None:
    user = adapter.create_user()
    soon, later, latest, gone = sessions_of(adapter, user["id"], 1, 5, 20, -1)

    active = manager.list_sessions(user["id"])
    assert [s.id for s in active] == [latest["id"], later["id"], soon["id"]]
    first = active[0]
    assert isinstance(first, SessionInfo) and first.user_id == user["id"]
    assert first.expires.tzinfo is timezone.utc and abs(first.expires - (now() + timedelta(days=20))) < timedelta(
        minutes=1
    )
    assert not hasattr(first, "session_token")
    # Metadata: None where the server or the schema does not keep it, else a real value.
    assert first.created_at is None or first.created_at.tzinfo is timezone.utc
    assert first.ip_address is None or isinstance(first.ip_address, str)

    assert [s.id for s in manager.list_sessions(user["id"], active=False)] == [
        latest["id"],
        later["id"],
        soon["id"],
        gone["id"],
    ]
    assert [s.id for s in manager.list_sessions(user["id"], limit=2)] == [latest["id"], later["id"]]
    assert manager.list_sessions("no-such-user-" + secrets.token_hex(4)) == []


def test_a_bad_argument_names_its_field(manager: Client) -> None:
    with pytest.raises(AuthBridgeError) as caught:
        manager.list_sessions("someone", limit=0, request_id="rid-limit")
    error = caught.value
    assert (error.status, error.code, error.field, error.request_id) == (400, "invalid_argument", "limit", "rid-limit")
    assert error.detail is not None and "limit" in error.detail


def test_revoke_one_session(manager: Client, reader: Client, adapter: Adapter) -> None:
    user = adapter.create_user()
    keep, drop = sessions_of(adapter, user["id"], 10, 10)

    revoked = manager.revoke_session(drop["id"])

    assert revoked is not None and (revoked.id, revoked.user_id) == (drop["id"], user["id"])
    assert isinstance(revoked.expires, datetime)
    assert reader.get_session_and_user(drop["sessionToken"]) is None
    assert reader.get_session_and_user(keep["sessionToken"]) is not None
    assert manager.revoke_session(drop["id"]) is None


def test_sign_out_everywhere_else_and_everywhere(manager: Client, reader: Client, adapter: Adapter) -> None:
    user = adapter.create_user()
    here, *others = sessions_of(adapter, user["id"], 3, 4, 5, -2)

    assert manager.revoke_other_sessions(user["id"], here["id"]) == 3  # the expired one counts too
    assert [s.id for s in manager.list_sessions(user["id"], active=False)] == [here["id"]]
    assert all(reader.get_session_and_user(s["sessionToken"]) is None for s in others)
    assert reader.get_session_and_user(here["sessionToken"]) is not None

    sessions_of(adapter, user["id"], 1, -1)
    assert manager.revoke_all_sessions(user["id"]) == 3
    assert manager.list_sessions(user["id"], active=False) == []
    assert reader.get_session_and_user(here["sessionToken"]) is None
    assert manager.revoke_all_sessions(user["id"]) == 0


def test_rotate_session(manager: Client, reader: Client, adapter: Adapter) -> None:
    user = adapter.create_user()
    created = adapter.create_session(user["id"])
    [listed] = manager.list_sessions(user["id"])
    assert listed.rotated_at is None  # never rotated

    before = now()
    rotated = manager.rotate_session(created["sessionToken"], max_age=3600)
    after = now()

    assert rotated is not None
    assert rotated.id == created["id"] and rotated.user_id == user["id"]
    assert rotated.session_token != created["sessionToken"] and len(rotated.session_token) == 64
    assert before + timedelta(hours=1) <= rotated.expires <= after + timedelta(hours=1)
    [listed] = manager.list_sessions(user["id"])
    assert listed.rotated_at is not None and listed.rotated_at.tzinfo is timezone.utc
    # A second either way: the database may round the rotation's time to its millisecond.
    assert before - timedelta(seconds=1) <= listed.rotated_at <= after + timedelta(seconds=1)
    found = reader.get_session_and_user(rotated.session_token)
    assert found is not None and found.session.id == created["id"]
    # Inside the grace window (the server's default, far longer than this test) an unconditional
    # rotation with the previous token is refused: only a browser's conditional one is answered.
    assert manager.rotate_session(created["sessionToken"]) is None
    expired = adapter.create_session(user["id"], now() - timedelta(minutes=1))
    assert manager.rotate_session(expired["sessionToken"]) is None


def test_the_previous_token_reads_the_session_inside_the_grace_window(
    manager: Client, reader: Client, adapter: Adapter
) -> None:
    user = adapter.create_user()
    created = adapter.create_session(user["id"])
    rotated = manager.rotate_session(created["sessionToken"])
    assert rotated is not None

    # A request the browser sent before it took the new cookie: the session, with the token sent
    # (never the new one).
    by_old = reader.get_session_and_user(created["sessionToken"])
    assert by_old is not None and by_old.session.id == created["id"] and by_old.user.id == user["id"]
    assert by_old.session.session_token == created["sessionToken"]
    # A conditional rotation with it is answered unchanged: not rotated, so no cookie to set.
    again = manager.rotate_session(created["sessionToken"], rotate_after=0)
    assert again is not None and again.id == created["id"]
    assert again.session_token == created["sessionToken"]
    new = reader.get_session_and_user(rotated.session_token)
    assert new is not None and new.session.id == created["id"]


def test_rotate_after_rotates_only_a_token_that_old(manager: Client, reader: Client, adapter: Adapter) -> None:
    user = adapter.create_user()
    created = adapter.create_session(user["id"])
    token = created["sessionToken"]

    # Created just now: not due, the session unchanged with the same token.
    kept = manager.rotate_session(token, rotate_after=3600)
    assert kept is not None and kept.id == created["id"] and kept.session_token == token
    assert manager.list_sessions(user["id"])[0].rotated_at is None
    assert reader.get_session_and_user(token) is not None

    # Due (0 s: any age): a new token.
    rotated = manager.rotate_session(token, rotate_after=0, max_age=7200)
    assert rotated is not None and rotated.id == created["id"] and rotated.session_token != token
    assert abs(rotated.expires - (now() + timedelta(hours=2))) < timedelta(minutes=1)
    # The age counts from the last rotation now: the new token is not due for an hour.
    kept = manager.rotate_session(rotated.session_token, rotate_after=3600)
    assert kept is not None and kept.session_token == rotated.session_token
    assert manager.rotate_session("no-such-token-" + secrets.token_hex(8), rotate_after=0) is None


def test_the_previous_token_after_the_window_revokes_the_session(start_server: StartServer, keys: Keys) -> None:
    # A server of its own with a one-second window, waited out.
    server = start_server("--rotation-grace", "1s")
    adapter = Adapter(server, keys)
    user = adapter.create_user()
    created = adapter.create_session(user["id"])
    with Client(server.url, api_key=keys.manager) as manager, Client(server.url, api_key=keys.reader) as reader:
        rotated = manager.rotate_session(created["sessionToken"])
        assert rotated is not None
        time.sleep(1.5)

        # Two parties hold the session (whoever sent the old token did not take the new cookie).
        assert reader.get_session_and_user(created["sessionToken"]) is None
        assert reader.get_session_and_user(rotated.session_token) is None
        assert manager.list_sessions(user["id"], active=False) == []
    adapter.http.close()


@pytest.mark.anyio
async def test_the_async_client_rotates_after(server: Server, keys: Keys, adapter: Adapter) -> None:
    user = adapter.create_user()
    created = adapter.create_session(user["id"])
    async with AsyncClient(server.url, api_key=keys.manager) as manager:
        kept = await manager.rotate_session(created["sessionToken"], rotate_after=3600)
        assert kept is not None and kept.session_token == created["sessionToken"]
        rotated = await manager.rotate_session(created["sessionToken"], rotate_after=0)
        assert rotated is not None and rotated.session_token != created["sessionToken"]
        [listed] = await manager.list_sessions(user["id"])
        assert listed.rotated_at is not None


def test_user_session_stats(manager: Client, adapter: Adapter) -> None:
    user = adapter.create_user()
    sessions_of(adapter, user["id"], 2, 7, -1, -3)

    stats = manager.user_session_stats(user["id"])

    assert (stats.total_sessions, stats.active_sessions, stats.expired_sessions) == (4, 2, 2)
    assert stats.latest_expires is not None and stats.latest_expires.tzinfo is timezone.utc
    assert abs(stats.latest_expires - (now() + timedelta(days=7))) < timedelta(minutes=1)
    empty = manager.user_session_stats("no-such-user-" + secrets.token_hex(4))
    assert (empty.total_sessions, empty.active_sessions, empty.expired_sessions, empty.latest_expires) == (
        0,
        0,
        0,
        None,
    )


def test_global_stats_and_purge(start_server: StartServer, keys: Keys) -> None:
    # A server of its own: these numbers count every session in the database.
    server = start_server("--purge-interval", "0")
    adapter = Adapter(server, keys)
    first, second = adapter.create_user(), adapter.create_user()
    sessions_of(adapter, first["id"], 0.5, 3, -1, -2)
    sessions_of(adapter, second["id"], 4, -5)
    adapter.call(
        "createVerificationToken",
        {
            "verificationToken": {
                "identifier": "a@example.com",
                "token": secrets.token_hex(16),
                "expires": "2001-01-01T00:00:00Z",
            }
        },
    )

    with (
        Client(server.url, api_key=keys.manager) as manager,
        Client(server.url, api_key=keys.maintenance) as maintenance,
    ):
        stats = manager.session_stats()
        assert (
            stats.active_sessions,
            stats.expired_sessions,
            stats.users_with_active_sessions,
            stats.expiring_within_24h,
        ) == (3, 3, 2, 1)

        purged = maintenance.purge_expired(batch_size=2)
        assert (purged.sessions_deleted, purged.verification_tokens_deleted) == (3, 1)
        assert maintenance.purge_expired().sessions_deleted == 0
        after = manager.session_stats()
        assert (after.active_sessions, after.expired_sessions) == (3, 0)
    adapter.http.close()
