"""GraphQL object types: thin views of the domain models."""

from __future__ import annotations

from datetime import date, datetime

import strawberry
from strawberry import relay
from strawberry.types import Info

from loyalty import money
from loyalty.customers.models import Customer
from loyalty.graphql.pagination import PageRequest, build_connection
from loyalty.integrations.models import Integration as IntegrationRow
from loyalty.integrations.models import Platform
from loyalty.integrations.models import Subscription as SubscriptionRow
from loyalty.programme import models as m
from loyalty.programme.models import Programme

LedgerEntryKind = strawberry.enum(m.EntryKind, name="LedgerEntryKind")
RewardKind = strawberry.enum(m.RewardKind, name="RewardKind")
VoucherStatus = strawberry.enum(m.VoucherStatus, name="VoucherStatus")
OrderStatus = strawberry.enum(m.OrderStatus, name="OrderStatus")
ExpiryMode = strawberry.enum(m.ExpiryMode, name="ExpiryMode")
TierBasis = strawberry.enum(m.TierBasis, name="TierBasis")
TierWindow = strawberry.enum(m.TierWindow, name="TierWindow")
ActionKind = strawberry.enum(m.ActionKind, name="ActionKind")
ActionLimit = strawberry.enum(m.ActionLimit, name="ActionLimit")


@strawberry.type(description="An amount of money: a decimal string and an ISO 4217 code.")
class Money:
    amount: str
    currency: str

    @classmethod
    def of(cls, minor: int, currency: str) -> Money:
        return cls(amount=money.to_decimal_string(minor, currency), currency=currency)


@strawberry.type(description="An expected failure, reported instead of raised.")
class UserError:
    field: list[str] | None
    message: str
    code: str


@strawberry.type
class Tier(relay.Node):
    id: relay.NodeID[int]
    name: str
    threshold: int = strawberry.field(
        description="Spend in minor units, or points earned, needed to reach this tier."
    )
    multiplier_percent: int
    perks: list[str]
    archived: bool

    @classmethod
    def of(cls, row: m.Tier) -> Tier:
        return cls(
            id=row.id,
            name=row.name,
            threshold=row.threshold,
            multiplier_percent=row.multiplier_percent,
            perks=list(row.perks or []),
            archived=row.archived,
        )


@strawberry.type
class TierProgress:
    next_tier: Tier | None
    remaining: int = strawberry.field(
        description="Spend (minor units) or points still needed for the next tier."
    )
    basis: TierBasis


@strawberry.type
class Reward(relay.Node):
    id: relay.NodeID[int]
    name: str
    kind: RewardKind
    points_cost: int
    amount: Money | None
    percentage: int | None
    product_id: str | None
    minimum_spend: Money | None
    archived: bool

    @classmethod
    def of(cls, row: m.Reward, currency: str) -> Reward:
        return cls(
            id=row.id,
            name=row.name,
            kind=row.kind,
            points_cost=row.points_cost,
            amount=Money.of(row.amount, currency) if row.amount is not None else None,
            percentage=row.percentage,
            product_id=row.product_id,
            minimum_spend=Money.of(row.minimum_spend, currency)
            if row.minimum_spend is not None
            else None,
            archived=row.archived,
        )


@strawberry.type
class Voucher(relay.Node):
    id: relay.NodeID[int]
    code: str
    status: VoucherStatus
    points_spent: int
    created_at: datetime
    used_at: datetime | None
    cancelled_at: datetime | None
    reward_id: strawberry.Private[int]
    currency: strawberry.Private[str]

    @strawberry.field
    async def reward(self, info: Info) -> Reward:
        row = await info.context.loaders.reward.load(self.reward_id)
        return Reward.of(row, self.currency)

    @classmethod
    def of(cls, row: m.Voucher, currency: str) -> Voucher:
        return cls(
            id=row.id,
            code=row.code,
            status=row.status,
            points_spent=row.points_spent,
            created_at=row.created_at,
            used_at=row.used_at,
            cancelled_at=row.cancelled_at,
            reward_id=row.reward_id,
            currency=currency,
        )


@strawberry.type
class LedgerEntry(relay.Node):
    id: relay.NodeID[int]
    kind: LedgerEntryKind
    points: int = strawberry.field(description="Change to the spendable balance.")
    pending_points: int = strawberry.field(description="Change to the pending balance.")
    description: str
    actor: str | None
    reason: str | None
    available_at: datetime | None
    expires_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, row: m.LedgerEntry) -> LedgerEntry:
        return cls(
            id=row.id,
            kind=row.kind,
            points=row.points,
            pending_points=row.pending_points,
            description=row.description,
            actor=row.actor,
            reason=row.reason,
            available_at=row.available_at,
            expires_at=row.expires_at,
            created_at=row.created_at,
        )


@strawberry.type
class Order(relay.Node):
    id: relay.NodeID[int]
    external_id: str
    status: OrderStatus
    subtotal: Money
    discounts: Money
    shipping: Money
    tax: Money
    refunded: Money
    points_awarded: int
    placed_at: datetime

    @classmethod
    def of(cls, row: m.Order) -> Order:
        c = row.currency
        return cls(
            id=row.id,
            external_id=row.external_id,
            status=row.status,
            subtotal=Money.of(row.subtotal, c),
            discounts=Money.of(row.discounts, c),
            shipping=Money.of(row.shipping, c),
            tax=Money.of(row.tax, c),
            refunded=Money.of(row.refunded, c),
            points_awarded=row.points_awarded,
            placed_at=row.placed_at,
        )


@strawberry.type(name="Subscription", description="A Recharge subscription as last reported.")
class SubscriptionType:
    status: str
    product_title: str
    quantity: int
    price: Money
    next_charge_on: date | None

    @classmethod
    def of(cls, row: SubscriptionRow) -> SubscriptionType:
        return cls(
            status=row.status,
            product_title=row.product_title,
            quantity=row.quantity,
            price=Money.of(row.price, row.currency),
            next_charge_on=row.next_charge_on,
        )


@strawberry.type(name="Customer")
class CustomerType(relay.Node):
    id: relay.NodeID[int]
    external_id: str | None
    email: str | None
    phone: str | None
    first_name: str | None
    last_name: str | None
    birthday: date | None
    country: str | None
    time_zone: str | None
    referral_code: str
    points_balance: int
    pending_points: int
    created_at: datetime
    last_order_at: datetime | None
    tier_id: strawberry.Private[int | None]
    shop_id: strawberry.Private[int]

    @classmethod
    def of(cls, row: Customer) -> CustomerType:
        return cls(
            id=row.id,
            external_id=row.external_id,
            email=row.email,
            phone=row.phone,
            first_name=row.first_name,
            last_name=row.last_name,
            birthday=row.birthday,
            country=row.country,
            time_zone=row.time_zone,
            referral_code=row.referral_code,
            points_balance=row.points_balance,
            pending_points=row.pending_points,
            created_at=row.created_at,
            last_order_at=row.last_order_at,
            tier_id=row.tier_id,
            shop_id=row.shop_id,
        )

    @strawberry.field
    async def tier(self, info: Info) -> Tier | None:
        if self.tier_id is None:
            return None
        return Tier.of(await info.context.loaders.tier.load(self.tier_id))

    @strawberry.field(description="The next tier up and what is still needed to reach it.")
    async def tier_progress(self, info: Info) -> TierProgress:
        standing = await info.context.loaders.tier_progress.load(self.id)
        return TierProgress(
            next_tier=Tier.of(standing.next_tier) if standing.next_tier else None,
            remaining=standing.remaining,
            basis=standing.programme.tier_basis,
        )

    @strawberry.field(description="Points history, newest first.")
    async def ledger(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> relay.Connection[LedgerEntry]:
        page = PageRequest.of(first, after)
        rows = await info.context.loaders.ledger_page.load((self.id, first, after))
        return build_connection(rows, page, LedgerEntry.of)

    @strawberry.field
    async def vouchers(self, info: Info) -> list[Voucher]:
        currency = info.context.shop.currency
        rows = await info.context.loaders.vouchers_of_customer.load(self.id)
        return [Voucher.of(v, currency) for v in rows]

    @strawberry.field(description="Active rewards whose cost the spendable balance covers.")
    async def affordable_rewards(self, info: Info) -> list[Reward]:
        rows = await info.context.loaders.active_rewards_of_shop.load(self.shop_id)
        return [
            Reward.of(r, info.context.shop.currency)
            for r in rows
            if not r.archived and r.points_cost <= self.points_balance
        ]

    @strawberry.field
    async def subscriptions(self, info: Info) -> list[SubscriptionType]:
        rows = await info.context.loaders.subscriptions_of_customer.load(self.id)
        return [SubscriptionType.of(row) for row in rows]

    @strawberry.field
    async def orders(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> relay.Connection[Order]:
        page = PageRequest.of(first, after)
        rows = await info.context.loaders.orders_page.load((self.id, first, after))
        return build_connection(rows, page, Order.of)


@strawberry.type
class EarningRule(relay.Node):
    id: relay.NodeID[int]
    kind: ActionKind
    key: str
    name: str
    points: int
    limit: ActionLimit
    active: bool

    @classmethod
    def of(cls, row: m.EarningRule) -> EarningRule:
        return cls(
            id=row.id,
            kind=row.kind,
            key=row.key,
            name=row.name,
            points=row.points,
            limit=row.limit,
            active=row.active,
        )


IntegrationPlatform = strawberry.enum(Platform, name="IntegrationPlatform")


@strawberry.type(description="A platform connection. Secrets are write-only: only whether set.")
class Integration:
    platform: IntegrationPlatform
    address: str
    webhook_path: str = strawberry.field(description="Where to point the platform's webhooks")
    has_webhook_secret: bool
    has_api_token: bool
    has_api_credentials: bool

    @classmethod
    def of(cls, row: IntegrationRow, shop_public_id: str) -> Integration:
        return cls(
            platform=row.platform,
            address=row.address,
            webhook_path=f"/webhooks/{row.platform.value}/{shop_public_id}",
            has_webhook_secret=bool(row.webhook_secret),
            has_api_token=bool(row.api_token),
            has_api_credentials=bool(row.api_key and row.api_secret),
        )


@strawberry.type(name="Programme")
class ProgrammeType:
    points_per_pound: int
    include_shipping: bool
    include_tax: bool
    approval_days: int
    expiry_mode: ExpiryMode
    expiry_days: int
    inactivity_months: int
    tier_basis: TierBasis
    tier_window: TierWindow
    tier_grace_days: int
    refund_returns_voucher_points: bool
    currency: str
    shop_id: strawberry.Private[int]

    @classmethod
    def of(cls, row: Programme, currency: str) -> ProgrammeType:
        return cls(
            points_per_pound=row.points_per_pound,
            include_shipping=row.include_shipping,
            include_tax=row.include_tax,
            approval_days=row.approval_days,
            expiry_mode=row.expiry_mode,
            expiry_days=row.expiry_days,
            inactivity_months=row.inactivity_months,
            tier_basis=row.tier_basis,
            tier_window=row.tier_window,
            tier_grace_days=row.tier_grace_days,
            refund_returns_voucher_points=row.refund_returns_voucher_points,
            currency=currency,
            shop_id=row.shop_id,
        )

    @strawberry.field
    async def tiers(self, include_archived: bool = False) -> list[Tier]:
        rows = m.Tier.filter(shop_id=self.shop_id)
        if not include_archived:
            rows = rows.filter(archived=False)
        return [Tier.of(t) for t in await rows.order_by("threshold", "id")]

    @strawberry.field
    async def rewards(self, include_archived: bool = False) -> list[Reward]:
        rows = m.Reward.filter(shop_id=self.shop_id)
        if not include_archived:
            rows = rows.filter(archived=False)
        return [Reward.of(r, self.currency) for r in await rows.order_by("points_cost", "id")]

    @strawberry.field
    async def earning_rules(self) -> list[EarningRule]:
        rows = await m.EarningRule.filter(shop_id=self.shop_id).order_by("id")
        return [EarningRule.of(r) for r in rows]
