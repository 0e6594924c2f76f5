"""Creating shops and their credentials, and checking credentials on each request."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from loyalty.errors import DomainError
from loyalty.programme.models import Programme
from loyalty.shops.models import ApiKey, Shop

SCOPES = ("read", "write")
KEY_PREFIX = "lk_"
TOKEN_MAX_LIFETIME = timedelta(hours=24)


class AuthError(Exception):
    """A credential is missing, malformed, expired or unknown."""


async def create_shop(name: str, currency: str = "GBP") -> Shop:
    """A new tenant with default programme settings and a fresh storefront secret."""
    if not name.strip():
        raise DomainError("INVALID", "shop name must not be empty", "name")
    if len(currency) != 3 or not currency.isalpha():
        raise DomainError("INVALID", "currency must be a 3-letter ISO 4217 code", "currency")
    shop = await Shop.create(
        public_id=secrets.token_hex(8),
        name=name.strip(),
        currency=currency.upper(),
        storefront_secret=secrets.token_urlsafe(32),
    )
    await Programme.create(shop=shop)
    return shop


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedKey:
    """An API key as shown to the merchant, once."""

    record: ApiKey
    secret: str


async def create_api_key(shop: Shop, name: str, scopes: list[str]) -> IssuedKey:
    """Issue a key; only its hash is kept, so the secret cannot be shown again."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise DomainError("INVALID", f"scopes must be among {', '.join(SCOPES)}", "scopes")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    record = await ApiKey.create(
        shop=shop,
        name=name,
        prefix=secret[:10],
        key_hash=_hash(secret),
        scopes=sorted(set(scopes)),
    )
    return IssuedKey(record=record, secret=secret)


async def authenticate_api_key(secret: str) -> ApiKey:
    """The live key behind a presented secret, with its shop loaded."""
    if not secret.startswith(KEY_PREFIX):
        raise AuthError("malformed API key")
    key = await ApiKey.get_or_none(key_hash=_hash(secret), revoked_at=None).prefetch_related("shop")
    if key is None:
        raise AuthError("unknown or revoked API key")
    return key


def mint_customer_token(shop: Shop, customer_external_id: str, ttl: timedelta) -> str:
    """What a shop's backend does: an HS256 JWT signed with the storefront secret."""
    issued = datetime.now(UTC)  # JWT libraries check expiry against the real clock
    claims = {
        "sub": customer_external_id,
        "iss": shop.public_id,
        "iat": int(issued.timestamp()),
        "exp": int((issued + ttl).timestamp()),
    }
    return jwt.encode(claims, shop.storefront_secret, algorithm="HS256")


async def authenticate_customer_token(token: str) -> tuple[Shop, str]:
    """The shop and the shop's customer id from a shopper token.

    The shop is named by the unverified `iss` claim, then the signature is checked with
    that shop's secret; tokens must expire within a day of issue.
    """
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise AuthError("malformed customer token") from exc
    shop = await Shop.get_or_none(public_id=str(unverified.get("iss", "")))
    if shop is None:
        raise AuthError("customer token names an unknown shop")
    try:
        claims = jwt.decode(
            token,
            shop.storefront_secret,
            algorithms=["HS256"],
            options={"require": ["sub", "exp", "iat"]},
            leeway=30,
        )
    except jwt.PyJWTError as exc:
        raise AuthError(f"invalid customer token: {exc}") from exc
    if claims["exp"] - claims["iat"] > TOKEN_MAX_LIFETIME.total_seconds():
        raise AuthError("customer token lifetime exceeds 24 hours")
    return shop, str(claims["sub"])
