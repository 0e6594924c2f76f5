"""Customer profiles: upsert by the shop's id or email, with normalised contact details."""

from __future__ import annotations

import secrets
from dataclasses import fields as dataclass_fields
from zoneinfo import available_timezones

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from loyalty.customers.models import Customer
from loyalty.errors import DomainError, NotFound
from loyalty.programme.inputs import CustomerInput

_TIME_ZONES = frozenset(available_timezones())


def normalise_email(raw: str) -> str:
    """Lower-cased, trimmed, syntax-checked (no DNS look-up: imports must be offline)."""
    try:
        checked = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise DomainError("INVALID_EMAIL", f"invalid email address: {exc}", "email") from exc
    return checked.normalized.lower()


def normalise_phone(raw: str, country: str | None) -> str:
    """E.164, reading national numbers in the customer's country (the UK when unknown)."""
    try:
        number = phonenumbers.parse(raw, (country or "GB").upper())
    except phonenumbers.NumberParseException as exc:
        raise DomainError("INVALID_PHONE", f"invalid phone number: {exc}", "phone") from exc
    if not phonenumbers.is_valid_number(number):
        raise DomainError("INVALID_PHONE", f"invalid phone number: {raw!r}", "phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _clean(data: CustomerInput) -> dict[str, object]:
    """Validated column values for the fields the input sets (None means 'leave as is')."""
    values: dict[str, object] = {}
    country = data.country.upper() if data.country else None
    if country is not None and (len(country) != 2 or not country.isalpha()):
        raise DomainError("INVALID", "country must be an ISO 3166-1 alpha-2 code", "country")
    if data.time_zone is not None and data.time_zone not in _TIME_ZONES:
        raise DomainError("INVALID", f"unknown time zone {data.time_zone!r}", "timeZone")
    for f in dataclass_fields(data):
        value = getattr(data, f.name)
        if value is None or f.name == "referral_code":
            continue
        values[f.name] = value
    if data.email is not None:
        values["email"] = normalise_email(data.email)
    if data.phone is not None:
        values["phone"] = normalise_phone(data.phone, country)
    if country is not None:
        values["country"] = country
    if data.birthday is not None:  # month and day apart, so the birthday job can use an index
        values["birth_month"], values["birth_day"] = data.birthday.month, data.birthday.day
    if data.external_id is not None:
        values["external_id"] = str(data.external_id)
    return values


async def find_customer(shop_id: int, data: CustomerInput) -> Customer | None:
    """The existing profile for the shop's customer id, else for the email."""
    if data.external_id:
        found = await Customer.get_or_none(shop_id=shop_id, external_id=str(data.external_id))
        if found is not None:
            return found
    if data.email:
        return await Customer.get_or_none(shop_id=shop_id, email=normalise_email(data.email))
    return None


def _merge_by_email(
    customer: Customer, data: CustomerInput, values: dict[str, object]
) -> dict[str, object]:
    """What an input matched only by email may change on an existing profile.

    An email is no proof of identity: another account of the shop (or a guest) can
    type anyone's address. So it never takes over a profile that has a different
    shop id, and a guest only fills blanks, never overwrites.
    """
    matched_by_id = data.external_id is not None and customer.external_id == str(data.external_id)
    if matched_by_id:
        return values
    if data.external_id is not None and customer.external_id is not None:
        raise DomainError("CONFLICT", "this email belongs to another customer of the shop", "email")
    return {k: v for k, v in values.items() if getattr(customer, k) in (None, "")}


async def upsert_customer(shop_id: int, data: CustomerInput) -> tuple[Customer, bool]:
    """Create or update a profile; returns (customer, created)."""
    if not data.external_id and not data.email:
        raise DomainError("INVALID", "a customer needs an id or an email", "customer")
    values = _clean(data)
    async with in_transaction():
        customer = await find_customer(shop_id, data)
        if customer is not None:
            # The email check below never sees an existing customer (found by that email).
            own_code = data.referral_code and data.referral_code.strip().upper()
            if own_code == customer.referral_code:
                raise DomainError("SELF_REFERRAL", "a customer cannot refer themselves")
            values = _merge_by_email(customer, data, values)
            customer.update_from_dict(values)
            try:
                # Only the profile's own columns: the cached balances belong to the ledger.
                await customer.save(update_fields=[*values, "updated_at"])
            except IntegrityError as exc:
                raise DomainError(
                    "CONFLICT", "another customer already has this id or email", "customer"
                ) from exc
            return customer, False
        referrer = None
        if data.referral_code:
            referrer = await Customer.get_or_none(
                shop_id=shop_id, referral_code=data.referral_code.strip().upper()
            )
            if referrer is None:
                raise DomainError("INVALID", "unknown referral code", "referralCode")
            if referrer.email and referrer.email == values.get("email"):
                raise DomainError("SELF_REFERRAL", "a customer cannot refer themselves")
        customer = await Customer.create(
            shop_id=shop_id,
            referral_code=secrets.token_hex(4).upper(),
            referred_by=referrer,
            **values,
        )
        return customer, True


async def get_customer(shop_id: int, customer_id: int) -> Customer:
    customer = await Customer.get_or_none(shop_id=shop_id, id=customer_id)
    if customer is None:
        raise NotFound("customer", "customerId")
    return customer
