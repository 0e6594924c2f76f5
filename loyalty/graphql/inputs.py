"""GraphQL input types; money fields are integers in minor units (pence)."""

from __future__ import annotations

from datetime import date, datetime

import strawberry
from strawberry import relay

from loyalty.graphql.types import (
    ActionKind,
    ActionLimit,
    ExpiryMode,
    IntegrationPlatform,
    OrderStatus,
    RewardKind,
    TierBasis,
    TierWindow,
)
from loyalty.programme import inputs as domain


@strawberry.input
class CustomerInput:
    external_id: str | None = None
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    birthday: date | None = None
    country: str | None = strawberry.field(default=None, description="ISO 3166-1 alpha-2")
    time_zone: str | None = strawberry.field(default=None, description="IANA, e.g. Europe/London")
    referral_code: str | None = strawberry.field(
        default=None, description="The referring customer's code, on first sync only."
    )

    def to_domain(self) -> domain.CustomerInput:
        return domain.CustomerInput(
            external_id=self.external_id,
            email=self.email,
            phone=self.phone,
            first_name=self.first_name,
            last_name=self.last_name,
            birthday=self.birthday,
            country=self.country,
            time_zone=self.time_zone,
            referral_code=self.referral_code,
        )


@strawberry.input
class OrderLineInput:
    title: str
    quantity: int
    unit_price: int = strawberry.field(description="Minor units")
    product_id: str | None = None
    variant_id: str | None = None
    sku: str | None = None
    total_discount: int = 0


@strawberry.input
class RecordOrderInput:
    external_id: str
    currency: str = "GBP"
    subtotal: int = strawberry.field(description="Goods total before discounts, minor units")
    discounts: int = 0
    shipping: int = 0
    tax: int = 0
    taxes_included: bool = strawberry.field(
        default=False, description="True when prices (UK VAT-inclusive) already contain tax"
    )
    status: OrderStatus
    customer: CustomerInput | None = None
    lines: list[OrderLineInput] = strawberry.field(default_factory=list)
    discount_codes: list[str] = strawberry.field(default_factory=list)
    placed_at: datetime | None = None
    idempotency_key: str | None = None

    def to_domain(self) -> domain.OrderInput:
        return domain.OrderInput(
            external_id=self.external_id,
            currency=self.currency,
            subtotal=self.subtotal,
            discounts=self.discounts,
            shipping=self.shipping,
            tax=self.tax,
            taxes_included=self.taxes_included,
            status=self.status,
            customer=self.customer.to_domain() if self.customer else None,
            lines=[
                domain.OrderLine(
                    title=line.title,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    product_id=line.product_id,
                    variant_id=line.variant_id,
                    sku=line.sku,
                    total_discount=line.total_discount,
                )
                for line in self.lines
            ],
            discount_codes=list(self.discount_codes),
            placed_at=self.placed_at,
        )


@strawberry.input
class SyncOrdersInput:
    orders: list[RecordOrderInput] = strawberry.field(description="At most 250")


@strawberry.input
class SyncCustomersInput:
    customers: list[CustomerInput] = strawberry.field(description="At most 250")


@strawberry.input
class RecordRefundInput:
    order_external_id: str
    amount: int = strawberry.field(description="Refunded amount in minor units")
    refund_external_id: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class AdjustPointsInput:
    customer_id: relay.GlobalID
    points: int = strawberry.field(description="Positive to add, negative to remove")
    reason: str
    idempotency_key: str | None = None


@strawberry.input
class RedeemRewardInput:
    reward_id: relay.GlobalID
    idempotency_key: str | None = None


@strawberry.input
class CancelVoucherInput:
    voucher_id: relay.GlobalID


@strawberry.input
class CompleteActionInput:
    customer_id: relay.GlobalID
    action: str = strawberry.field(description="The earning rule's key, e.g. review")
    idempotency_key: str | None = None


@strawberry.input
class UpdateProgrammeInput:
    points_per_pound: int | None = None
    include_shipping: bool | None = None
    include_tax: bool | None = None
    approval_days: int | None = None
    expiry_mode: ExpiryMode | None = None
    expiry_days: int | None = None
    inactivity_months: int | None = None
    tier_basis: TierBasis | None = None
    tier_window: TierWindow | None = None
    tier_grace_days: int | None = None
    refund_returns_voucher_points: bool | None = strawberry.field(
        default=None,
        description="A fully refunded order gives back the points of loyalty vouchers used on it",
    )


@strawberry.input
class TierInput:
    id: relay.GlobalID | None = strawberry.field(default=None, description="Omit to create")
    name: str | None = None
    threshold: int | None = None
    multiplier_percent: int | None = None
    perks: list[str] | None = None


@strawberry.input
class RewardInput:
    id: relay.GlobalID | None = strawberry.field(default=None, description="Omit to create")
    name: str | None = None
    kind: RewardKind | None = None
    points_cost: int | None = None
    amount: int | None = strawberry.field(default=None, description="Minor units")
    percentage: int | None = None
    product_id: str | None = None
    minimum_spend: int | None = None


@strawberry.input
class EarningRuleInput:
    id: relay.GlobalID | None = strawberry.field(default=None, description="Omit to create")
    kind: ActionKind | None = None
    key: str | None = None
    name: str | None = None
    points: int | None = None
    limit: ActionLimit | None = None
    active: bool | None = None


@strawberry.input
class ConfigureIntegrationInput:
    platform: IntegrationPlatform
    address: str | None = strawberry.field(
        default=None, description="Shopify *.myshopify.com domain or WooCommerce https URL"
    )
    webhook_secret: str | None = None
    api_token: str | None = strawberry.field(default=None, description="Shopify Admin API token")
    api_key: str | None = strawberry.field(default=None, description="WooCommerce consumer key")
    api_secret: str | None = strawberry.field(
        default=None, description="WooCommerce consumer secret"
    )


@strawberry.input
class ArchiveInput:
    id: relay.GlobalID
