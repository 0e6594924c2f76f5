"""Plain inputs to programme services, shared by GraphQL, webhooks and imports."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from loyalty.programme.models import OrderStatus


@dataclass(frozen=True)
class CustomerInput:
    """Who a shopper is, as the shop knows them; every field optional but one identifier."""

    external_id: str | None = None
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    birthday: date | None = None
    country: str | None = None
    time_zone: str | None = None
    referral_code: str | None = None


@dataclass(frozen=True)
class OrderLine:
    """One line; money in minor units."""

    title: str
    quantity: int
    unit_price: int
    product_id: str | None = None
    variant_id: str | None = None
    sku: str | None = None
    total_discount: int = 0


@dataclass(frozen=True)
class OrderInput:
    """An order as a shop reports it; money in minor units of `currency`.

    `subtotal` is the goods total before order-level `discounts`; shipping and tax are
    separate so the programme can choose what earns points. With `taxes_included`
    (VAT-inclusive pricing, usual in the UK) the subtotal, discounts and shipping
    already contain `tax`; otherwise tax is charged on top.
    """

    external_id: str
    currency: str
    subtotal: int
    status: OrderStatus
    discounts: int = 0
    shipping: int = 0
    tax: int = 0
    taxes_included: bool = False
    customer: CustomerInput | None = None
    lines: list[OrderLine] = field(default_factory=list)
    discount_codes: list[str] = field(default_factory=list)
    placed_at: datetime | None = None


@dataclass(frozen=True)
class RefundInput:
    """A refund of part or all of an order; `amount` in minor units."""

    order_external_id: str
    amount: int
    external_id: str | None = None
