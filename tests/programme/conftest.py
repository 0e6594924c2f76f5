"""Shared set-up for programme tests: a shop with its programme, at a frozen time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from loyalty import clock
from loyalty.customers.models import Customer
from loyalty.customers.service import upsert_customer
from loyalty.programme import ledger, orders
from loyalty.programme.inputs import CustomerInput, OrderInput, RefundInput
from loyalty.programme.models import (
    EntryKind,
    LedgerEntry,
    Order,
    OrderStatus,
    Programme,
    Reward,
    RewardKind,
    Tier,
)
from loyalty.shops.models import Shop
from loyalty.shops.service import create_shop

T0 = datetime(2025, 3, 10, 9, 30, tzinfo=UTC)


class Kit:
    """Small helpers that drive the real services for one shop."""

    def __init__(self, shop: Shop) -> None:
        self.shop = shop

    @staticmethod
    def at(**delta: float) -> datetime:
        """Move the clock to T0 + delta and return the new 'now'."""
        moment = T0 + timedelta(**delta)
        clock.set_now(moment)
        return moment

    async def configure(self, **settings: object) -> Programme:
        await Programme.filter(shop_id=self.shop.id).update(**settings)
        return await Programme.get(shop_id=self.shop.id)

    async def programme(self) -> Programme:
        return await Programme.get(shop_id=self.shop.id)

    async def customer(self, external_id: str = "c1", **fields: object) -> Customer:
        customer, _ = await upsert_customer(
            self.shop.id, CustomerInput(external_id=external_id, **fields)
        )
        return customer

    async def order(
        self,
        external_id: str,
        subtotal: int,
        *,
        customer: str | None = "c1",
        status: OrderStatus = OrderStatus.PAID,
        **fields: object,
    ) -> Order:
        return await orders.record_order(
            self.shop.id,
            OrderInput(
                external_id=external_id,
                currency="GBP",
                subtotal=subtotal,
                status=status,
                customer=CustomerInput(external_id=customer) if customer else None,
                **fields,
            ),
        )

    async def refund(self, order_external_id: str, amount: int, external_id: str | None = None):
        return await orders.record_refund(
            self.shop.id,
            RefundInput(
                order_external_id=order_external_id, amount=amount, external_id=external_id
            ),
        )

    async def tier(self, name: str, threshold: int, multiplier_percent: int = 100) -> Tier:
        return await Tier.create(
            shop_id=self.shop.id,
            name=name,
            threshold=threshold,
            multiplier_percent=multiplier_percent,
        )

    async def reward(self, points_cost: int, name: str = "£5 off") -> Reward:
        return await Reward.create(
            shop_id=self.shop.id,
            name=name,
            kind=RewardKind.FIXED_AMOUNT,
            points_cost=points_cost,
            amount=500,
        )

    async def credit(self, customer: Customer, points: int, **extra: object) -> LedgerEntry:
        """Spendable points through an adjustment, as a merchant would grant them."""
        return await ledger.post(
            customer, EntryKind.ADJUST, points=points, actor="staff:test", reason="setup", **extra
        )

    async def balances(self, customer: Customer) -> tuple[int, int]:
        """(spendable, pending) from the database, after proving the cache equals the ledger."""
        check = await ledger.check_balance(customer.id)
        assert check.ok, check
        return check.cached_points, check.cached_pending

    @staticmethod
    async def fresh(customer: Customer) -> Customer:
        return await Customer.get(id=customer.id)


@pytest.fixture
async def shop(database_url: str) -> Shop:
    clock.set_now(T0)
    return await create_shop("Tortoise & Hare Ltd")


@pytest.fixture
def kit(shop: Shop) -> Kit:
    return Kit(shop)


@pytest.fixture
def t0() -> datetime:
    return T0


@pytest.fixture
async def other_kit(shop: Shop) -> Kit:
    """A second shop, to prove that nothing crosses between tenants."""
    return Kit(await create_shop("Other shop"))
