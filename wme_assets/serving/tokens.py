"""Signed, expiring tokens: access (24 h), refresh (30 days) and id, as Enterprise's login returns them.

JWTs signed with HS256 (PyJWT) by one secret, ``WME_API_SECRET``. Embedded, when it is unset, a secret is
generated once and kept in ``WME_HOME/api/secret`` (mode 0600), so tokens survive a restart; servers that
share accounts in PostgreSQL must share the secret, so there it must be set.

A token carries the account (``sub``), its kind (``typ``), the account's token version when it was issued
(``ver``: disabling an account bumps it, which ends every token issued before at once) and the login session
(``sid``: revoking a refresh token revokes the session, and with it the access tokens it issued). The
signature and expiry are checked here; the version and revocation against the accounts database, on every
request (:mod:`wme_assets.serving.auth`).
"""

from __future__ import annotations

import os
import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import jwt

from wme_assets.settings import ConfigurationError, Settings

ALGORITHM = "HS256"
ISSUER = "wme"
TokenKind = Literal["access", "refresh", "id"]


class TokenError(ValueError):
    """The token is not one of ours, is of the wrong kind, or has expired (the message says which)."""


@dataclass(frozen=True)
class Claims:
    subject: str
    kind: str
    version: int
    session: str
    expires_at: int


def signing_secret(settings: Settings) -> str:
    """``WME_API_SECRET``, or embedded the secret kept under ``WME_HOME`` (created on first use)."""
    if settings.api_secret is not None and settings.api_secret.get_secret_value():
        return settings.api_secret.get_secret_value()
    if settings.uses_postgres:
        raise ConfigurationError(
            "WME_API_SECRET is not set: with accounts in PostgreSQL (WME_PG_HOST) every API server must sign "
            "tokens with the same secret; set it to a long random string (e.g. `openssl rand -base64 48`)"
        )
    path = settings.home_dir / "api" / "secret"
    if not path.exists():
        _create_secret(path)
    return path.read_text().strip()


def _create_secret(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # two servers starting at once: one wins
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(48) + "\n")


class TokenIssuer:
    def __init__(self, secret: str, *, access_ttl: int, refresh_ttl: int):
        if len(secret) < 16:
            raise ConfigurationError("WME_API_SECRET is too short: use at least 32 random characters")
        self._secret = secret
        self.ttl: dict[str, int] = {"access": access_ttl, "id": access_ttl, "refresh": refresh_ttl}

    def issue(self, subject: str, kind: TokenKind, *, version: int, session: str, tier: str | None = None) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": subject,
            "typ": kind,
            "ver": version,
            "sid": session,
            "iat": now,
            "exp": now + self.ttl[kind],
            "jti": uuid.uuid4().hex,
        }
        if kind == "id":
            claims["username"] = subject
            if tier:
                claims["tier"] = tier
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def decode(self, token: str, kind: TokenKind) -> Claims:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "typ", "ver", "sid"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("the token has expired") from None
        except jwt.InvalidTokenError:
            raise TokenError("the token is not valid") from None
        if claims["typ"] != kind:
            raise TokenError(f"not an {kind} token")
        return Claims(
            subject=str(claims["sub"]),
            kind=claims["typ"],
            version=int(claims["ver"]),
            session=str(claims["sid"]),
            expires_at=int(claims["exp"]),
        )


def new_session() -> str:
    return uuid.uuid4().hex
