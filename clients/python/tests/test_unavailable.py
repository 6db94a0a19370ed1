"""An outage raises `AuthBridgeUnavailable`, never looks like "signed out", and passes."""

from __future__ import annotations

import pytest
from conftest import Adapter, Backend, Keys, StartServer

from authbridge import AuthBridgeUnavailable, Client

#: Short waits so that a database that stops answering gives a 503 quickly (defaults: 2 s, 5 s),
#: and a slide on every read, so that a locked SQLite database stops session reads too (see
#: `Sqlite.unreachable` in conftest.py).
OUTAGE_FLAGS = (
    "--pool-timeout-ms", "500",
    "--sqlite-busy-timeout-ms", "200",
    "--session-update-age", "0",
    "--purge-interval", "0",
)  # fmt: skip


def test_a_database_that_stops_answering_is_unavailable(
    start_server: StartServer, backend: Backend, keys: Keys
) -> None:
    server = start_server(*OUTAGE_FLAGS)
    adapter = Adapter(server, keys)
    user = adapter.create_user()
    token = adapter.create_session(user["id"])["sessionToken"]

    with Client(server.url, api_key=keys.reader) as client, Client(server.url, api_key=keys.manager) as manager:
        assert client.get_session_and_user(token) is not None
        with backend.unreachable(server.database_url):
            with pytest.raises(AuthBridgeUnavailable) as caught:
                client.get_session_and_user(token, request_id="rid-outage")
            with pytest.raises(AuthBridgeUnavailable):
                manager.revoke_all_sessions("someone-else")
        # The same server answers again once the database does.
        found = client.get_session_and_user(token)
        assert found is not None and found.user.id == user["id"]
    adapter.http.close()

    error = caught.value
    assert (error.status, error.code, error.request_id) == (503, "unavailable", "rid-outage")
    assert error.retry_after is not None and error.retry_after >= 0
    assert token not in str(error)


def test_a_stopped_server_is_unavailable(start_server: StartServer, keys: Keys) -> None:
    server = start_server()
    adapter = Adapter(server, keys)
    token = adapter.create_session(adapter.create_user()["id"])["sessionToken"]
    adapter.http.close()
    with Client(server.url, api_key=keys.reader) as client:
        assert client.get_session_and_user(token) is not None
        server.stop()
        with pytest.raises(AuthBridgeUnavailable) as caught:
            client.get_session_and_user(token)
    assert (caught.value.status, caught.value.code) == (None, "network_error")
