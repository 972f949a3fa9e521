"""Enterprise's auth endpoints (``/v1/login``, ``/v1/token-refresh``, ``/v1/token-revoke``) and the bearer check.

The shapes are those Enterprise's SDK (``modules/auth/auth_client.py``) sends and reads: login takes
``{"username", "password"}`` and answers ``{"id_token", "access_token", "refresh_token", "expires_in"}``;
refresh takes ``{"username", "refresh_token"}`` and answers a new access (and id) token; revoke takes
``{"refresh_token"}`` and answers an empty 200.

Every other endpoint takes ``Authorization: Bearer <access token>`` (:func:`require_account`), checked on every
request against the accounts database: the account exists and is enabled, the token's version is the
account's (disabling an account ends its tokens at once) and its session is not revoked. Then the account's
rate limit (429 with ``Retry-After``); routes of a capped group (:func:`charged`) also count against the monthly
quota. Failed logins are limited per username and client address. Neither tokens nor
passwords are ever logged.
"""

from __future__ import annotations

import logging
import math
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from wme_assets.serving.accounts import Account
from wme_assets.serving.errors import ApiError, documented
from wme_assets.serving.services import Services, services
from wme_assets.serving.tokens import Claims, TokenError, new_session

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["auth"], responses=documented(400, 401, 422))
_bearer = HTTPBearer(auto_error=False, description="An access token from /v1/login")
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="wme"'}


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=1024)


class RefreshRequest(BaseModel):
    username: str = Field(min_length=1, max_length=128)
    refresh_token: str = Field(min_length=1, max_length=4096)


class RevokeRequest(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=4096)


class LoginResponse(BaseModel):
    id_token: str
    access_token: str
    refresh_token: str
    expires_in: int


class RefreshResponse(BaseModel):
    id_token: str
    access_token: str
    expires_in: int


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _retry_after(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


@router.post("/login", response_model=LoginResponse, responses=documented(429))
def login(body: LoginRequest, request: Request, svc: Annotated[Services, Depends(services)]) -> LoginResponse:
    key = f"{body.username}\x00{_client(request)}"
    wait = svc.login_limit.check(key)  # failed attempts count; once over the limit, every attempt waits
    if wait is not None:
        log.warning("login attempts for %r from %s limited", body.username, _client(request))
        raise ApiError(429, "Too Many Requests: too many failed logins, try again later", _retry_after(wait))
    account = svc.accounts.authenticate(body.username, body.password)
    if account is None:
        svc.login_limit.hit(key)
        log.info("failed login for %r from %s", body.username, _client(request))
        raise ApiError(401, "Unauthorized: wrong username or password, or the account is disabled")
    session = new_session()
    issue = svc.issuer.issue
    return LoginResponse(
        id_token=issue(account.name, "id", version=account.token_version, session=session, tier=account.tier),
        access_token=issue(account.name, "access", version=account.token_version, session=session),
        refresh_token=issue(account.name, "refresh", version=account.token_version, session=session),
        expires_in=svc.issuer.ttl["access"],
    )


def _valid(svc: Services, claims: Claims) -> Account:
    """The token's account if the token still stands (module docstring), else a 401."""
    account = svc.accounts.get(claims.subject)
    if account is None or account.disabled or account.token_version != claims.version:
        raise ApiError(401, "Unauthorized: the token's account is disabled or its tokens were revoked", CHALLENGE)
    if svc.accounts.is_revoked(claims.session):
        raise ApiError(401, "Unauthorized: the token was revoked", CHALLENGE)
    return account


@router.post("/token-refresh", response_model=RefreshResponse)
def token_refresh(body: RefreshRequest, svc: Annotated[Services, Depends(services)]) -> RefreshResponse:
    try:
        claims = svc.issuer.decode(body.refresh_token, "refresh")
    except TokenError as exc:
        raise ApiError(401, f"Unauthorized: {exc}") from None
    if claims.subject != body.username:
        raise ApiError(401, "Unauthorized: the refresh token is not this user's")
    account = _valid(svc, claims)
    issue = svc.issuer.issue
    return RefreshResponse(
        id_token=issue(account.name, "id", version=account.token_version, session=claims.session, tier=account.tier),
        access_token=issue(account.name, "access", version=account.token_version, session=claims.session),
        expires_in=svc.issuer.ttl["access"],
    )


@router.post(
    "/token-revoke", status_code=200, response_class=Response, responses={200: {"description": "Revoked (no body)"}}
)
def token_revoke(body: RevokeRequest, svc: Annotated[Services, Depends(services)]) -> Response:
    """Revoke the refresh token's session: it and every access token issued in it stop working."""
    try:
        claims = svc.issuer.decode(body.refresh_token, "refresh")
    except TokenError as exc:
        raise ApiError(401, f"Unauthorized: {exc}") from None
    svc.accounts.revoke_session(claims.session, claims.expires_at)
    return Response(status_code=200)


def require_account(
    request: Request,
    svc: Annotated[Services, Depends(services)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Account:
    """The caller's account, from a valid bearer access token, within its rate limit (module docstring)."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise ApiError(401, "Unauthorized: send Authorization: Bearer <access token> (POST /v1/login)", CHALLENGE)
    try:
        claims = svc.issuer.decode(credentials.credentials, "access")
    except TokenError as exc:
        raise ApiError(401, f"Unauthorized: {exc}", CHALLENGE) from None
    account = _valid(svc, claims)
    wait = svc.request_limit.hit(account.name)
    if wait is not None:
        raise ApiError(429, "Too Many Requests: the account's rate limit (WME_API_RATE_LIMIT)", _retry_after(wait))
    return account


def charged(group: str):
    """A dependency: the caller's account (as :func:`require_account`), with one request of ``group`` counted
    against its monthly quota (:mod:`wme_assets.serving.quotas`); past the cap, 429 until the next month."""

    def _charge(
        account: Annotated[Account, Depends(require_account)], svc: Annotated[Services, Depends(services)]
    ) -> Account:
        charge = svc.quotas.charge(account.name, account.tier, group)
        if not charge.allowed:
            raise ApiError(
                429,
                f"Too Many Requests: the {account.tier} tier's monthly quota of {charge.cap} {group} requests is "
                "used up; it starts again on the 1st (UTC)",
                {"Retry-After": str(charge.retry_after)},
            )
        return account

    return _charge
