"""Historic orders: they feed profiles, spend and tiers; they award points only if asked.

Columns (CSV header or JSON-lines keys, case-insensitive, spaces or underscores):

    order_id      required, the shop's id for the order (the idempotency key)
    customer_id   the shop's id for the customer   } one of them links the order to a
    email         the customer's email             } profile; neither = a guest order
    first_name, last_name, phone                     profile details (optional)
    currency      ISO code; default the shop's currency
    subtotal      required, goods before order-level discounts, e.g. "12.50"
    discounts, shipping, tax                         default 0
    taxes_included  true/false, default false (see OrderInput)
    status        pending | paid | fulfilled | cancelled | refunded; default paid
    placed_at     required, ISO 8601 with offset ("2024-05-01T10:00:00+01:00") or a date
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from loyalty import clock
from loyalty.customers.models import Customer
from loyalty.customers.service import upsert_customer
from loyalty.imports import values
from loyalty.imports.readers import Row
from loyalty.imports.runner import DEFAULT_BATCH_SIZE, ImportReport, Outcome, RowError, run_import
from loyalty.programme import tiers
from loyalty.programme.inputs import CustomerInput, OrderInput
from loyalty.programme.models import Order, OrderStatus, Programme, Tier
from loyalty.programme.orders import EARNING, record_order
from loyalty.shops.models import Shop

ORDER_ID = ("order_id", "id", "order_number", "order")
CUSTOMER_ID = ("customer_id", "customer")
PLACED_AT = ("placed_at", "created_at", "order_date", "date")


def parse_order(data: dict[str, Any], shop_currency: str) -> OrderInput:
    """A row as an OrderInput, or a RowError naming the column at fault."""
    external_id = values.text(data, *ORDER_ID)
    if external_id is None:
        raise RowError("order_id", "missing")
    if len(external_id) > 64:
        raise RowError("order_id", "longer than 64 characters")
    code = values.currency(values.pick(data, "currency"), shop_currency)
    subtotal = values.money(values.pick(data, "subtotal"), code, "subtotal")
    discounts = values.money(
        values.pick(data, "discounts", "discount"), code, "discounts", default=0
    )
    shipping = values.money(values.pick(data, "shipping"), code, "shipping", default=0)
    tax = values.money(values.pick(data, "tax", "taxes"), code, "tax", default=0)
    if discounts > subtotal:
        raise RowError("discounts", "exceed the subtotal")
    raw_status = values.text(data, "status")
    try:
        status = OrderStatus((raw_status or "paid").lower())
    except ValueError:
        known = ", ".join(s.value for s in OrderStatus)
        raise RowError("status", f"unknown status {raw_status!r} (one of: {known})") from None
    placed_at = values.timestamp(values.pick(data, *PLACED_AT), "placed_at")
    if placed_at > clock.now():
        raise RowError("placed_at", "is in the future")
    customer_id = values.text(data, *CUSTOMER_ID)
    email = values.text(data, "email", "customer_email")
    customer = None
    if customer_id or email:
        customer = CustomerInput(
            external_id=customer_id,
            email=email,
            phone=values.text(data, "phone"),
            first_name=values.text(data, "first_name"),
            last_name=values.text(data, "last_name"),
        )
    return OrderInput(
        external_id=external_id,
        currency=code,
        subtotal=subtotal,
        discounts=discounts,
        shipping=shipping,
        tax=tax,
        taxes_included=values.flag(
            values.pick(data, "taxes_included"), "taxes_included", default=False
        ),
        status=status,
        customer=customer,
        placed_at=placed_at,
    )


async def _record_without_points(
    shop_id: int, data: OrderInput, customer_id: int | None = None
) -> tuple[Order, int | None]:
    """Create the order as already settled with zero points (call inside a transaction);
    returns it with its customer's id.

    `awarded_at` is set (with `points_awarded` 0), so record_order never awards it later
    when the shop sends the same order again, and a refund finds no earn to reverse.
    The profile is upserted without the sign-up reward: history is not a new sign-up.
    `customer_id` skips the upsert for a profile this run has already written as is.
    """
    if customer_id is None and data.customer is not None:
        customer, _ = await upsert_customer(shop_id, data.customer)
        customer_id = customer.id
    placed_at = data.placed_at or clock.now()
    order = await Order.create(
        shop_id=shop_id,
        customer_id=customer_id,
        external_id=data.external_id,
        currency=data.currency,
        subtotal=data.subtotal,
        discounts=data.discounts,
        shipping=data.shipping,
        tax=data.tax,
        taxes_included=data.taxes_included,
        status=data.status,
        lines=[],
        discount_codes=list(data.discount_codes),
        placed_at=placed_at,
        points_awarded=0,
        awarded_at=clock.now(),
    )
    if customer_id is not None and order.status in EARNING:
        await Customer.filter(
            Q(last_order_at__isnull=True) | Q(last_order_at__lt=placed_at), id=customer_id
        ).update(last_order_at=placed_at)
    return order, customer_id


async def record_historic_order(
    shop_id: int, data: OrderInput, award_points: bool = False
) -> tuple[Order, bool]:
    """Record a past order once; returns (order, created). An order already present is
    left exactly as it is. With `award_points` it goes through record_order (points,
    sign-up and referral rewards as if live); without, no ledger entry is written.
    Either way the customer's tier is evaluated on the new spend."""
    existing = await Order.get_or_none(shop_id=shop_id, external_id=data.external_id)
    if existing is not None:
        return existing, False
    if award_points:
        return await record_order(shop_id, data), True
    async with in_transaction():
        order, customer_id = await _record_without_points(shop_id, data)
        if customer_id is not None:
            customer = await Customer.get(id=customer_id)
            await tiers.evaluate_tier(customer, await Programme.get(shop_id=shop_id))
    return order, True


class OrderImporter:
    kind = "orders"

    def __init__(self, shop: Shop, programme: Programme, award_points: bool) -> None:
        self.shop = shop
        self.programme = programme
        self.award_points = award_points
        self._touched: set[int] = set()
        self._present: set[str] = set()
        # Profiles this run has written: a repeat of the same details needs no upsert.
        self._profile_ids: dict[CustomerInput, int] = {}
        self._applied: dict[int, CustomerInput] = {}

    def options(self) -> dict[str, Any]:
        return {"award_points": self.award_points}

    def parse(self, row: Row) -> OrderInput:
        return parse_order(row.data, self.shop.currency)

    async def prepare_batch(self, items: list[OrderInput]) -> None:
        ids = {data.external_id for data in items}
        self._present = set(
            await Order.filter(shop_id=self.shop.id, external_id__in=ids).values_list(
                "external_id", flat=True
            )
        )

    def present(self, item: OrderInput) -> bool:
        return item.external_id in self._present

    async def apply(self, row: Row, item: OrderInput) -> Outcome:
        data = item
        if self.award_points:  # record_order evaluates the tier itself, order by order
            await record_order(self.shop.id, data)
        else:
            known = None
            if data.customer is not None:
                known = self._profile_ids.get(data.customer)
                if known is not None and self._applied.get(known) != data.customer:
                    known = None  # other details were written since: write these again
            _, customer_id = await _record_without_points(self.shop.id, data, known)
            if customer_id is not None:
                self._touched.add(customer_id)
                if data.customer is not None:
                    self._profile_ids[data.customer] = customer_id
                    self._applied[customer_id] = data.customer
        self._present.add(data.external_id)  # the same order twice in a file: once
        return Outcome.IMPORTED

    async def end_batch(self) -> None:
        """Tiers once per customer per batch: upgrades only, as live orders do."""
        touched, self._touched = self._touched, set()
        if not touched or not await Tier.exists(shop_id=self.shop.id, archived=False):
            return
        for customer in await Customer.filter(id__in=touched):
            await tiers.evaluate_tier(customer, self.programme)


async def import_orders(
    shop: Shop,
    path: Path | str,
    *,
    award_points: bool = False,
    fmt: str | None = None,
    resume: bool = True,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress=None,
    after_batch=None,
) -> ImportReport:
    """Import historic orders from a CSV or JSON-lines file (see the module docstring)."""
    programme = await Programme.get(shop_id=shop.id)
    return await run_import(
        OrderImporter(shop, programme, award_points),
        path,
        shop_id=shop.id,
        fmt=fmt,
        resume=resume,
        batch_size=batch_size,
        on_progress=on_progress,
        after_batch=after_batch,
    )
