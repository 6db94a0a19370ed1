"""The session cookie helper: names, preference order, chunks and header parsing (no server)."""

from __future__ import annotations

import pytest

from authbridge import SESSION_COOKIE_NAMES, parse_cookie_header, session_token_from_cookies

TOKEN = "a3f1" * 16


@pytest.mark.parametrize("name", SESSION_COOKIE_NAMES)
def test_each_name_is_found_in_a_mapping_and_in_a_header(name: str) -> None:
    assert session_token_from_cookies({name: TOKEN, "other": "x"}) == TOKEN
    assert session_token_from_cookies(f"theme=dark; {name}={TOKEN}; csrf=1") == TOKEN


def test_the_documented_names_are_auth_js_v5_and_next_auth_v4() -> None:
    assert SESSION_COOKIE_NAMES == (
        "__Secure-authjs.session-token",
        "authjs.session-token",
        "__Secure-next-auth.session-token",
        "next-auth.session-token",
    )


@pytest.mark.parametrize(
    ("present", "expected"),
    [
        ({"authjs.session-token": "plain", "__Secure-authjs.session-token": "secure"}, "secure"),
        ({"next-auth.session-token": "plain", "__Secure-next-auth.session-token": "secure"}, "secure"),
        ({"next-auth.session-token": "v4", "authjs.session-token": "v5"}, "v5"),
        ({"__Secure-next-auth.session-token": "v4-secure", "authjs.session-token": "v5-plain"}, "v5-plain"),
    ],
)
def test_preference_order(present: dict[str, str], expected: str) -> None:
    assert session_token_from_cookies(present) == expected
    # The order of the cookies in the header does not matter, only the names.
    assert session_token_from_cookies("; ".join(f"{k}={v}" for k, v in reversed(present.items()))) == expected


@pytest.mark.parametrize("name", SESSION_COOKIE_NAMES)
def test_chunks_are_joined_in_numeric_order(name: str) -> None:
    chunks = [TOKEN[i : i + 5] for i in range(0, len(TOKEN), 5)]  # 13: ".10" sorts before ".2" as text
    assert len(chunks) > 10
    header = "; ".join(f"{name}.{i}={chunk}" for i, chunk in reversed(list(enumerate(chunks))))
    assert session_token_from_cookies(header) == TOKEN
    assert session_token_from_cookies({f"{name}.{i}": c for i, c in enumerate(chunks)}) == TOKEN


def test_chunks_stop_at_the_first_missing_index() -> None:
    assert session_token_from_cookies({"authjs.session-token.0": "ab", "authjs.session-token.2": "cd"}) == "ab"
    assert session_token_from_cookies({"authjs.session-token.1": "cd"}) is None


def test_a_whole_cookie_wins_over_chunks_of_the_same_name() -> None:
    cookies = {"authjs.session-token": "whole", "authjs.session-token.0": "chunk"}
    assert session_token_from_cookies(cookies) == "whole"


def test_a_chunked_secure_cookie_wins_over_a_whole_plain_one() -> None:
    cookies = {
        "authjs.session-token": "plain",
        "__Secure-authjs.session-token.0": "sec",
        "__Secure-authjs.session-token.1": "ure",
    }
    assert session_token_from_cookies(cookies) == "secure"


def test_host_prefix_is_the_csrf_cookie_not_the_session() -> None:
    assert session_token_from_cookies({"__Host-authjs.session-token": TOKEN, "__Host-authjs.csrf-token": "c"}) is None


def test_no_session_cookie() -> None:
    assert session_token_from_cookies(None) is None
    assert session_token_from_cookies("") is None
    assert session_token_from_cookies({}) is None
    assert session_token_from_cookies("authjs.callback-url=%2F; authjs.csrf-token=abc") is None
    # An empty value is no session; the next name is tried.
    assert session_token_from_cookies({"__Secure-authjs.session-token": "", "next-auth.session-token": "v4"}) == "v4"


def test_custom_names_replace_the_defaults() -> None:
    cookies = {"my-app.session": "mine", "authjs.session-token": "default"}
    assert session_token_from_cookies(cookies, names=["my-app.session"]) == "mine"
    assert session_token_from_cookies({"authjs.session-token": "x"}, names=["my-app.session"]) is None
    assert session_token_from_cookies("my-app.session=mine", names="my-app.session") == "mine"


def test_header_parsing() -> None:
    header = ' a = 1 ;b="quoted";  c=%41%2Fx; flag; =nameless; a=second; d=; e=x=y '
    assert parse_cookie_header(header) == {"a": "1", "b": "quoted", "c": "A/x", "d": "", "e": "x=y"}
