"""Shop credentials: hashed API keys with scopes, and shopper JWTs signed by the shop."""

import hashlib
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from loyalty.errors import DomainError
from loyalty.programme.models import Programme
from loyalty.shops.models import ApiKey, Shop
from loyalty.shops.service import (
    TOKEN_MAX_LIFETIME,
    AuthError,
    authenticate_api_key,
    authenticate_customer_token,
    create_api_key,
    create_shop,
    mint_customer_token,
)


@pytest.fixture
async def shop(database_url):
    return await create_shop("Corner Shop")


async def test_a_new_shop_gets_default_programme_settings_and_a_secret(shop):
    programme = await Programme.get(shop_id=shop.id)
    assert programme.approval_days == 14
    assert (programme.include_shipping, programme.include_tax) == (False, False)
    assert shop.currency == "GBP"
    assert len(shop.storefront_secret) >= 32
    other = await create_shop("  Other  ", currency="eur")
    assert (other.name, other.currency) == ("Other", "EUR")
    assert other.public_id != shop.public_id
    assert other.storefront_secret != shop.storefront_secret


@pytest.mark.parametrize(
    ("name", "currency", "field"),
    [(" ", "GBP", "name"), ("X", "GB", "currency"), ("X", "G1P", "currency")],
)
async def test_invalid_shops_are_refused(database_url, name, currency, field):
    with pytest.raises(DomainError) as raised:
        await create_shop(name, currency)
    assert (raised.value.code, raised.value.field) == ("INVALID", field)
    assert await Shop.all().count() == 0


# API keys ------------------------------------------------------------------------------


async def test_an_api_key_is_stored_only_as_its_hash(shop):
    issued = await create_api_key(shop, "Back office", ["write", "read", "read"])
    assert issued.secret.startswith("lk_") and len(issued.secret) > 40
    stored = await ApiKey.get(id=issued.record.id)
    assert stored.key_hash == hashlib.sha256(issued.secret.encode()).hexdigest()
    assert stored.prefix == issued.secret[:10]
    assert stored.scopes == ["read", "write"]
    columns = await ApiKey.filter(id=stored.id).values()
    assert not any(issued.secret == value for value in columns[0].values())
    second = await create_api_key(shop, "Another", ["read"])
    assert second.secret != issued.secret


async def test_a_valid_key_authenticates_as_its_shop(shop):
    issued = await create_api_key(shop, "Back office", ["read"])
    key = await authenticate_api_key(issued.secret)
    assert key.id == issued.record.id
    assert key.shop.id == shop.id
    assert key.scopes == ["read"]


@pytest.mark.parametrize(
    "mangle", [lambda s: s + "x", lambda s: s[:-1], lambda s: s[3:], str.upper]
)
async def test_a_wrong_or_malformed_key_is_refused(shop, mangle):
    issued = await create_api_key(shop, "Back office", ["read"])
    with pytest.raises(AuthError):
        await authenticate_api_key(mangle(issued.secret))


async def test_a_revoked_key_is_refused(shop):
    issued = await create_api_key(shop, "Back office", ["read", "write"])
    await ApiKey.filter(id=issued.record.id).update(revoked_at=datetime.now(UTC))
    with pytest.raises(AuthError, match="revoked"):
        await authenticate_api_key(issued.secret)


@pytest.mark.parametrize("scopes", [[], ["admin"], ["read", "delete"], ["READ"]])
async def test_scopes_must_be_known_and_present(shop, scopes):
    with pytest.raises(DomainError) as raised:
        await create_api_key(shop, "Bad", scopes)
    assert (raised.value.code, raised.value.field) == ("INVALID", "scopes")
    assert await ApiKey.all().count() == 0


# Customer tokens -----------------------------------------------------------------------


def _token(shop, sub="c-42", *, secret=None, iss=None, iat=None, exp=None, **extra):
    now = datetime.now(UTC)
    claims = {
        "sub": sub,
        "iss": iss if iss is not None else shop.public_id,
        "iat": int((iat or now).timestamp()),
        "exp": int((exp or now + timedelta(hours=1)).timestamp()),
        **extra,
    }
    return jwt.encode(claims, secret or shop.storefront_secret, algorithm="HS256")


async def test_a_valid_customer_token_names_the_shop_and_customer(shop):
    token = mint_customer_token(shop, "c-42", timedelta(hours=1))
    found, customer_id = await authenticate_customer_token(token)
    assert (found.id, customer_id) == (shop.id, "c-42")


async def test_a_token_of_exactly_the_maximum_lifetime_is_accepted(shop):
    token = mint_customer_token(shop, "c-42", TOKEN_MAX_LIFETIME)
    assert (await authenticate_customer_token(token))[1] == "c-42"


async def test_a_token_signed_with_the_wrong_secret_is_refused(shop):
    with pytest.raises(AuthError, match="invalid customer token"):
        await authenticate_customer_token(
            _token(shop, secret="not-the-shop-secret-0123456789abcdef")
        )


async def test_a_token_signed_by_another_shop_cannot_claim_this_one(shop):
    other = await create_shop("Other")
    forged = _token(shop, secret=other.storefront_secret)  # iss = shop, key = other's
    with pytest.raises(AuthError):
        await authenticate_customer_token(forged)


async def test_an_expired_token_is_refused(shop):
    now = datetime.now(UTC)
    token = _token(shop, iat=now - timedelta(hours=2), exp=now - timedelta(minutes=5))
    with pytest.raises(AuthError, match="expired"):
        await authenticate_customer_token(token)


async def test_a_token_living_longer_than_a_day_is_refused(shop):
    token = mint_customer_token(shop, "c-42", TOKEN_MAX_LIFETIME + timedelta(seconds=1))
    with pytest.raises(AuthError, match="24 hours"):
        await authenticate_customer_token(token)
    with pytest.raises(AuthError):
        await authenticate_customer_token(_token(shop, exp=datetime.now(UTC) + timedelta(days=30)))


async def test_a_token_naming_an_unknown_shop_is_refused(shop):
    with pytest.raises(AuthError, match="unknown shop"):
        await authenticate_customer_token(_token(shop, iss="no-such-shop"))
    unnamed = jwt.encode({"sub": "c", "exp": 9999999999, "iat": 1}, "x" * 32, algorithm="HS256")
    with pytest.raises(AuthError, match="unknown shop"):
        await authenticate_customer_token(unnamed)


@pytest.mark.parametrize("missing", ["sub", "exp", "iat"])
async def test_a_token_missing_a_required_claim_is_refused(shop, missing):
    now = datetime.now(UTC)
    claims = {
        "sub": "c",
        "iss": shop.public_id,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(hours=1)).timestamp()),
    }
    del claims[missing]
    token = jwt.encode(claims, shop.storefront_secret, algorithm="HS256")
    with pytest.raises(AuthError):
        await authenticate_customer_token(token)


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c"])
async def test_a_malformed_token_is_refused(shop, token):
    with pytest.raises(AuthError, match="malformed"):
        await authenticate_customer_token(token)


async def test_an_unsigned_token_is_refused(shop):
    token = jwt.encode(
        {"sub": "c", "iss": shop.public_id, "iat": 1, "exp": 9999999999}, None, algorithm="none"
    )
    with pytest.raises(AuthError):
        await authenticate_customer_token(token)
