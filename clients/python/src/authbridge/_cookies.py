"""Finding the Auth.js session token among a request's cookies.

With database sessions the session cookie holds the session token itself (64 hex characters),
which `get_session_and_user` looks up. Its name depends on the Auth.js major version and on
whether the site runs on HTTPS (`useSecureCookies`, on by default for `https://` URLs):

| Auth.js v5 (`@auth/core`)         | next-auth v4                          |
|-----------------------------------|---------------------------------------|
| `__Secure-authjs.session-token`   | `__Secure-next-auth.session-token`    |
| `authjs.session-token`            | `next-auth.session-token`             |

`__Host-` is the prefix Auth.js gives its CSRF cookie (`__Host-authjs.csrf-token`), never the
session cookie, so it is not looked for.

Auth.js splits a value too large for one cookie (about 4 KB) into chunks `name.0`, `name.1`, ...
(the session store of `@auth/core`); they are joined in numeric order. Database-session cookies
are small and never chunked in practice, but a JWT-sized value would be.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import unquote

#: The names looked for, in this order: the first one present wins. `__Secure-` first (a site
#: that moved to HTTPS may still carry a stale plain cookie), then v5 before v4 (an app upgraded
#: from next-auth 4 may still carry the old cookie until it expires).
SESSION_COOKIE_NAMES: tuple[str, ...] = (
    "__Secure-authjs.session-token",
    "authjs.session-token",
    "__Secure-next-auth.session-token",
    "next-auth.session-token",
)


def parse_cookie_header(header: str) -> dict[str, str]:
    """A `Cookie` header as a dict, the way browsers and Auth.js read it.

    Pairs are split on `;`, names and values are trimmed, a value in double quotes loses them and
    percent-escapes are decoded (Auth.js writes values with `encodeURIComponent`). When a name
    appears twice, the first one wins (browsers send the cookie with the longest path first).
    Parts without `=` are skipped.
    """
    cookies: dict[str, str] = {}
    for part in header.split(";"):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or not name or name in cookies:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        cookies[name] = unquote(value)
    return cookies


def session_token_from_cookies(
    cookies: Mapping[str, str] | str | None, names: Sequence[str] = SESSION_COOKIE_NAMES
) -> str | None:
    """The session token from a request's cookies, or `None` when there is none.

    `cookies` is a mapping of decoded cookie values (Starlette's `request.cookies`, Django's
    `request.COOKIES`) or a raw `Cookie` header. `names` replaces the list of names to look for
    when the app configured its own (`cookies.sessionToken.name` in the Auth.js config), in the
    order of preference.

    For each name, in order: the whole cookie if present and not empty, else its chunks
    `name.0`, `name.1`, ... joined, up to the first missing index.
    """
    if cookies is None:
        return None
    if isinstance(names, str):  # one name, not its characters
        names = (names,)
    jar = parse_cookie_header(cookies) if isinstance(cookies, str) else cookies
    for name in names:
        whole = jar.get(name)
        if whole:
            return whole
        chunks: list[str] = []
        while (chunk := jar.get(f"{name}.{len(chunks)}")) is not None:
            chunks.append(chunk)
        joined = "".join(chunks)
        if joined:
            return joined
    return None
