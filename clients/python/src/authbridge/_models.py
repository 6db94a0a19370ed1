"""What authbridge answers, as typed dataclasses.

Parsing is strict about what the contract promises (types, RFC 3339 dates) and lenient about what
it may add: unknown keys are ignored, so a newer server never breaks an older client. Fields the
contract adds later (the session metadata of `SessionInfo`) are optional and `None` when absent.

`repr()` never shows a session token or an email address: objects like these end up in logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


class InvalidResponse(ValueError):
    """An answer that is not the contract's; turned into `AuthBridgeError("invalid_response")`."""


def parse_datetime(value: object, name: str) -> datetime:
    """An RFC 3339 date as a timezone-aware `datetime` in UTC.

    authbridge always sends `2026-01-02T03:04:05.678Z`; any RFC 3339 offset is accepted and
    converted. Python 3.10's `fromisoformat` does not know the `Z` suffix, hence the replace.
    """
    if not isinstance(value, str):
        raise InvalidResponse(f"`{name}` is not a date string")
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidResponse(f"`{name}` is not an RFC 3339 date") from None
    if parsed.tzinfo is None:
        raise InvalidResponse(f"`{name}` has no UTC offset")
    return parsed.astimezone(timezone.utc)


def format_datetime(value: datetime) -> str:
    """A timezone-aware `datetime` as authbridge writes dates (UTC, milliseconds, `Z`)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("a naive datetime is ambiguous: give it a timezone (e.g. timezone.utc)")
    utc = value.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _object(value: object, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidResponse(f"`{name}` is not an object")
    return value


def _str(data: Mapping[str, Any], key: str, name: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise InvalidResponse(f"`{name}.{key}` is not a string")
    return value


def _opt_str(data: Mapping[str, Any], key: str, name: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidResponse(f"`{name}.{key}` is not a string or null")
    return value


def _int(data: Mapping[str, Any], key: str, name: str) -> int:
    value = data.get(key)
    # bool is an int in Python; JSON `true` is not a count.
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidResponse(f"`{name}.{key}` is not an integer")
    return value


def _date(data: Mapping[str, Any], key: str, name: str) -> datetime:
    return parse_datetime(data.get(key), f"{name}.{key}")


def _opt_date(data: Mapping[str, Any], key: str, name: str) -> datetime | None:
    value = data.get(key)
    return None if value is None else parse_datetime(value, f"{name}.{key}")


@dataclass(frozen=True, slots=True)
class User:
    """An Auth.js user. `email` is left out of `repr()`."""

    id: str
    name: str | None
    email: str | None = field(repr=False)
    email_verified: datetime | None
    image: str | None

    @classmethod
    def from_json(cls, value: object, name: str = "user") -> User:
        data = _object(value, name)
        return cls(
            id=_str(data, "id", name),
            name=_opt_str(data, "name", name),
            email=_opt_str(data, "email", name),
            email_verified=_opt_date(data, "emailVerified", name),
            image=_opt_str(data, "image", name),
        )


@dataclass(frozen=True, slots=True)
class Session:
    """An Auth.js session. `session_token` is the cookie's value: a credential, so never in `repr()`."""

    id: str
    session_token: str = field(repr=False)
    user_id: str
    expires: datetime

    @classmethod
    def from_json(cls, value: object, name: str = "session") -> Session:
        data = _object(value, name)
        return cls(
            id=_str(data, "id", name),
            session_token=_str(data, "sessionToken", name),
            user_id=_str(data, "userId", name),
            expires=_date(data, "expires", name),
        )


@dataclass(frozen=True, slots=True)
class SessionAndUser:
    """What a valid session cookie resolves to."""

    session: Session
    user: User

    @classmethod
    def from_json(cls, value: object) -> SessionAndUser:
        data = _object(value, "body")
        return cls(session=Session.from_json(data.get("session")), user=User.from_json(data.get("user")))


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A session as the management routes show it: never with its token.

    The metadata fields are filled when the team's Prisma `Session` model has the matching
    optional columns (API.md, "Session metadata"); otherwise, and with servers that predate them,
    they are `None`. `rotated_at` is the last rotation's time: `None` for a session never rotated,
    or where the schema lacks the optional rotation columns (`previousSessionToken`, `rotatedAt`).
    """

    id: str
    user_id: str
    expires: datetime
    created_at: datetime | None = None
    updated_at: datetime | None = None
    ip_address: str | None = None
    user_agent: str | None = None
    rotated_at: datetime | None = None

    @classmethod
    def from_json(cls, value: object, name: str = "sessionInfo") -> SessionInfo:
        data = _object(value, name)
        return cls(
            id=_str(data, "id", name),
            user_id=_str(data, "userId", name),
            expires=_date(data, "expires", name),
            created_at=_opt_date(data, "createdAt", name),
            updated_at=_opt_date(data, "updatedAt", name),
            ip_address=_opt_str(data, "ipAddress", name),
            user_agent=_opt_str(data, "userAgent", name),
            rotated_at=_opt_date(data, "rotatedAt", name),
        )


@dataclass(frozen=True, slots=True)
class SessionContext:
    """Where a sign-in or rotation came from, stored by servers that keep session metadata."""

    ip_address: str | None = None
    user_agent: str | None = None

    def to_json(self) -> dict[str, str]:
        wire = {"ipAddress": self.ip_address, "userAgent": self.user_agent}
        return {key: value for key, value in wire.items() if value is not None}


@dataclass(frozen=True, slots=True)
class UserSessionStats:
    """`GET /v1/users/{userId}/session-stats`; `total_sessions` and `latest_expires` count expired sessions too."""

    total_sessions: int
    active_sessions: int
    expired_sessions: int
    latest_expires: datetime | None

    @classmethod
    def from_json(cls, value: object) -> UserSessionStats:
        name = "sessionStats"
        data = _object(value, name)
        return cls(
            total_sessions=_int(data, "totalSessions", name),
            active_sessions=_int(data, "activeSessions", name),
            expired_sessions=_int(data, "expiredSessions", name),
            latest_expires=_opt_date(data, "latestExpires", name),
        )


@dataclass(frozen=True, slots=True)
class SessionStats:
    """`GET /v1/stats/sessions`: one scan of the sessions table, for dashboards."""

    active_sessions: int
    expired_sessions: int
    users_with_active_sessions: int
    expiring_within_24h: int

    @classmethod
    def from_json(cls, value: object) -> SessionStats:
        name = "stats"
        data = _object(value, name)
        return cls(
            active_sessions=_int(data, "activeSessions", name),
            expired_sessions=_int(data, "expiredSessions", name),
            users_with_active_sessions=_int(data, "usersWithActiveSessions", name),
            expiring_within_24h=_int(data, "expiringWithin24h", name),
        )


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """`POST /v1/maintenance/purge-expired`: the rows one purge run deleted."""

    sessions_deleted: int
    verification_tokens_deleted: int

    @classmethod
    def from_json(cls, value: object) -> PurgeResult:
        name = "purged"
        data = _object(value, name)
        return cls(
            sessions_deleted=_int(data, "sessionsDeleted", name),
            verification_tokens_deleted=_int(data, "verificationTokensDeleted", name),
        )
