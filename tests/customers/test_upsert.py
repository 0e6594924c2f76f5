"""Customer profiles: upsert by the shop's id and/or email, with normalised contact details."""

from datetime import date

import pytest

from loyalty.customers.models import Customer
from loyalty.customers.service import (
    find_customer,
    get_customer,
    normalise_email,
    normalise_phone,
    upsert_customer,
)
from loyalty.errors import DomainError
from loyalty.programme.inputs import CustomerInput
from loyalty.shops.service import create_shop


@pytest.fixture
async def shop(database_url):
    return await create_shop("Corner Shop")


async def _upsert(shop, **fields):
    return await upsert_customer(shop.id, CustomerInput(**fields))


async def _refused(shop, **fields):
    with pytest.raises(DomainError) as raised:
        await _upsert(shop, **fields)
    return raised.value


async def test_a_new_customer_is_created_with_every_detail(shop):
    customer, created = await _upsert(
        shop,
        external_id="7001",
        email="  Jane.Doe@Example.CO.UK ",
        phone="07911 123456",
        first_name="Jane",
        last_name="Doe",
        birthday=date(1990, 2, 14),
        country="gb",
        time_zone="Europe/London",
    )
    assert created
    stored = await Customer.get(id=customer.id)
    assert stored.shop_id == shop.id
    assert (stored.external_id, stored.email, stored.phone) == (
        "7001",
        "jane.doe@example.co.uk",
        "+447911123456",
    )
    assert (stored.first_name, stored.last_name, stored.full_name) == ("Jane", "Doe", "Jane Doe")
    assert (stored.birthday, stored.country, stored.time_zone) == (
        date(1990, 2, 14),
        "GB",
        "Europe/London",
    )
    assert stored.referral_code and stored.referral_code == stored.referral_code.upper()
    assert (stored.points_balance, stored.pending_points) == (0, 0)


async def test_upsert_by_the_shops_id_updates_instead_of_duplicating(shop):
    first, _ = await _upsert(shop, external_id="7001", email="a@example.com", first_name="Al")
    again, created = await _upsert(shop, external_id="7001", last_name="Jones")
    assert not created and again.id == first.id
    stored = await Customer.get(id=first.id)
    # Fields the input leaves out are kept as they were.
    assert (stored.email, stored.first_name, stored.last_name) == (
        "a@example.com",
        "Al",
        "Jones",
    )
    assert await Customer.filter(shop_id=shop.id).count() == 1


async def test_upsert_by_email_matches_whatever_its_case(shop):
    guest, _ = await _upsert(shop, email="Guest@Example.com")
    same, created = await _upsert(shop, email="  guest@EXAMPLE.com")
    assert not created and same.id == guest.id
    # A guest who later registers gets the shop's id attached to the same profile.
    registered, created = await _upsert(shop, external_id="9", email="GUEST@example.com")
    assert not created and registered.id == guest.id
    assert (await Customer.get(id=guest.id)).external_id == "9"
    assert await find_customer(shop.id, CustomerInput(external_id="9")) == registered


async def test_numeric_ids_are_stored_as_text(shop):
    customer, _ = await upsert_customer(shop.id, CustomerInput(external_id=12345))
    assert customer.external_id == "12345"
    again, created = await upsert_customer(shop.id, CustomerInput(external_id="12345"))
    assert not created and again.id == customer.id


async def test_a_customer_needs_an_id_or_an_email(shop):
    error = await _refused(shop, first_name="Nobody", phone="07911 123456")
    assert (error.code, error.field) == ("INVALID", "customer")
    assert await Customer.all().count() == 0


@pytest.mark.parametrize(
    ("raw", "country", "e164"),
    [
        ("07911 123456", None, "+447911123456"),
        ("+44 (0)20 7946 0958", None, "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("(201) 555-0123", "US", "+12015550123"),
        ("+1 201-555-0123", "GB", "+12015550123"),
    ],
)
def test_phone_numbers_are_stored_as_e164(raw, country, e164):
    assert normalise_phone(raw, country) == e164


@pytest.mark.parametrize("raw", ["12345", "not a phone", "07700 90012", "+44 7911 12345678"])
async def test_an_invalid_phone_gets_a_clear_error_and_nothing_is_saved(shop, raw):
    error = await _refused(shop, external_id="1", phone=raw)
    assert (error.code, error.field) == ("INVALID_PHONE", "phone")
    assert "invalid phone number" in error.message
    assert await Customer.all().count() == 0


async def test_an_invalid_phone_leaves_an_existing_profile_unchanged(shop):
    customer, _ = await _upsert(shop, external_id="1", phone="07911 123456")
    error = await _refused(shop, external_id="1", phone="123", first_name="Changed")
    assert error.code == "INVALID_PHONE"
    stored = await Customer.get(id=customer.id)
    assert (stored.phone, stored.first_name) == ("+447911123456", None)


@pytest.mark.parametrize("raw", ["not-an-email", "a@", "@example.com", "a b@example.com"])
async def test_an_invalid_email_is_refused(shop, raw):
    error = await _refused(shop, email=raw)
    assert (error.code, error.field) == ("INVALID_EMAIL", "email")


def test_email_normalisation():
    assert normalise_email("  Mixed.Case@Example.COM ") == "mixed.case@example.com"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"country": "GBR"}, "country"),
        ({"country": "1A"}, "country"),
        ({"time_zone": "Mars/Olympus"}, "timeZone"),
    ],
)
async def test_invalid_country_or_time_zone(shop, fields, field):
    error = await _refused(shop, external_id="1", **fields)
    assert (error.code, error.field) == ("INVALID", field)


async def test_changing_to_another_customers_email_is_a_conflict(shop):
    await _upsert(shop, external_id="1", email="one@example.com")
    two, _ = await _upsert(shop, external_id="2", email="two@example.com")
    error = await _refused(shop, external_id="2", email="ONE@example.com")
    assert error.code == "CONFLICT"
    assert (await Customer.get(id=two.id)).email == "two@example.com"


async def test_customers_of_different_shops_never_merge(shop):
    other = await create_shop("Other")
    mine, _ = await _upsert(shop, external_id="1", email="same@example.com")
    theirs, created = await upsert_customer(
        other.id, CustomerInput(external_id="1", email="same@example.com")
    )
    assert created and theirs.id != mine.id and theirs.shop_id == other.id
    assert (await get_customer(shop.id, mine.id)).id == mine.id
    with pytest.raises(DomainError) as raised:
        await get_customer(shop.id, theirs.id)
    assert raised.value.code == "NOT_FOUND"


async def test_referral_codes_are_unique(shop):
    codes = set()
    for i in range(30):
        customer, _ = await _upsert(shop, external_id=str(i))
        codes.add(customer.referral_code)
    assert len(codes) == 30


async def test_a_referral_code_links_the_new_customer_to_its_referrer(shop):
    referrer, _ = await _upsert(shop, external_id="1", email="ref@example.com")
    friend, created = await _upsert(
        shop,
        external_id="2",
        email="friend@example.com",
        referral_code=f" {referrer.referral_code.lower()} ",
    )
    assert created and friend.referred_by_id == referrer.id


async def test_an_email_never_hands_a_profile_to_another_account(database_url):
    from loyalty.errors import DomainError
    from loyalty.shops.service import create_shop

    shop = await create_shop("Merge")
    victim, _ = await upsert_customer(
        shop.id, CustomerInput(external_id="44", email="victim@example.com", first_name="Vic")
    )
    with pytest.raises(DomainError) as refused:
        await upsert_customer(shop.id, CustomerInput(external_id="55", email="victim@example.com"))
    assert (refused.value.code, refused.value.field) == ("CONFLICT", "email")
    await victim.refresh_from_db()
    assert victim.external_id == "44"

    guest, created = await upsert_customer(
        shop.id,
        CustomerInput(email="victim@example.com", first_name="Mallory", phone="07911123456"),
    )
    assert not created and guest.id == victim.id
    assert guest.first_name == "Vic"  # a guest fills blanks, never overwrites
    assert guest.phone == "+447911123456"
