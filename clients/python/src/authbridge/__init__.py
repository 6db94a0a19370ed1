"""authbridge: check Auth.js / next-auth database sessions from Python, and manage them.

    from authbridge import Client, session_token_from_cookies

    client = Client("http://authbridge.internal:7777", api_key=SESSION_READ_KEY)
    found = client.get_session_and_user(session_token_from_cookies(request_cookie_header))

FastAPI: `authbridge.fastapi`; Django: `authbridge.django`.
"""

from ._client import DEFAULT_TIMEOUT, AsyncClient, Client, __version__
from ._cookies import SESSION_COOKIE_NAMES, parse_cookie_header, session_token_from_cookies
from ._errors import (
    AuthBridgeError,
    AuthBridgeForbidden,
    AuthBridgeUnauthenticated,
    AuthBridgeUnavailable,
)
from ._models import (
    PurgeResult,
    Session,
    SessionAndUser,
    SessionContext,
    SessionInfo,
    SessionStats,
    User,
    UserSessionStats,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "SESSION_COOKIE_NAMES",
    "AsyncClient",
    "AuthBridgeError",
    "AuthBridgeForbidden",
    "AuthBridgeUnauthenticated",
    "AuthBridgeUnavailable",
    "Client",
    "PurgeResult",
    "Session",
    "SessionAndUser",
    "SessionContext",
    "SessionInfo",
    "SessionStats",
    "User",
    "UserSessionStats",
    "__version__",
    "parse_cookie_header",
    "session_token_from_cookies",
]
