from datetime import UTC, date, datetime

import pytest

from loyalty import clock
from loyalty.customers.models import Customer
from loyalty.programme import jobs
from loyalty.programme.inputs import CustomerInput
from loyalty.programme.members import sync_customer
from loyalty.programme.models import ActionKind, EarningRule
from loyalty.shops.service import create_shop


@pytest.mark.both_dbs
async def test_birthday_points_once_a_year(database_url):
    shop = await create_shop("Bday")
    await EarningRule.create(
        shop=shop, kind=ActionKind.BIRTHDAY, key="birthday", name="Birthday", points=50
    )
    await sync_customer(
        shop.id, CustomerInput(external_id="b", email="b@example.com", birthday=date(1990, 3, 14))
    )
    await sync_customer(
        shop.id, CustomerInput(external_id="n", email="n@example.com", birthday=date(1990, 3, 15))
    )
    await sync_customer(
        shop.id,
        CustomerInput(external_id="leap", email="l@example.com", birthday=date(1992, 2, 29)),
    )

    clock.set_now(datetime(2027, 3, 14, 9, tzinfo=UTC))
    assert (await jobs.award_birthdays(shop.id)).customers == 1
    assert (await jobs.award_birthdays(shop.id)).customers == 0  # a second run adds nothing
    assert (await Customer.get(external_id="b")).points_balance == 50
    assert (await Customer.get(external_id="n")).points_balance == 0

    clock.set_now(datetime(2027, 2, 28, 9, tzinfo=UTC))  # not a leap year
    assert (await jobs.award_birthdays(shop.id)).customers == 1
    assert (await Customer.get(external_id="leap")).points_balance == 50


async def test_sign_up_points_only_for_new_members(database_url):
    shop = await create_shop("Signup")
    await EarningRule.create(
        shop=shop, kind=ActionKind.SIGNUP, key="signup", name="Welcome", points=100
    )
    customer, created = await sync_customer(
        shop.id, CustomerInput(external_id="s", email="s@example.com")
    )
    assert created and customer.points_balance == 100
    again, created = await sync_customer(shop.id, CustomerInput(external_id="s", first_name="Sam"))
    assert not created and again.points_balance == 100 and again.first_name == "Sam"
