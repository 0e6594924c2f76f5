"""Write side: each mutation takes one `input` and returns a payload with `userErrors`.

Resolvers only translate: rules live in the programme services, and retried writes
go through `run_once` so a repeat returns the first result.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import strawberry
from strawberry.types import Info

from loyalty.customers.models import Customer
from loyalty.customers.service import get_customer
from loyalty.errors import DomainError, NotFound
from loyalty.graphql import inputs as i
from loyalty.graphql.consent import ConsentMutation
from loyalty.graphql.errors import decode_id, user_errors
from loyalty.graphql.messaging import MessagingMutation
from loyalty.graphql.permissions import MerchantWrite, Shopper
from loyalty.graphql.types import (
    CustomerType,
    EarningRule,
    Integration,
    LedgerEntry,
    Order,
    ProgrammeType,
    Reward,
    Tier,
    UserError,
    Voucher,
)
from loyalty.idempotency import run_once
from loyalty.integrations import settings as integration_settings
from loyalty.integrations import voucher_push
from loyalty.programme import earning, orders, rewards, settings
from loyalty.programme import models as m
from loyalty.programme.inputs import RefundInput
from loyalty.programme.members import sync_customer


def _body(data: Any) -> dict[str, Any]:
    """The request as plain data for idempotency fingerprints (without the key itself)."""
    body = {k: v for k, v in dataclasses.asdict(data).items() if k != "idempotency_key"}
    return {k: str(v) if hasattr(v, "node_id") else v for k, v in body.items()}


async def _customer_type(customer_id: int | None) -> CustomerType | None:
    if customer_id is None:
        return None
    return CustomerType.of(await Customer.get(id=customer_id))


@strawberry.type
class CustomerPayload:
    customer: CustomerType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class OrderPayload:
    order: Order | None = None
    customer: CustomerType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class SyncResult:
    """The outcome for one item of a batch, in input order."""

    external_id: str | None
    order: Order | None = None
    customer: CustomerType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class SyncPayload:
    results: list[SyncResult] = strawberry.field(default_factory=list)
    user_errors: list[UserError] = strawberry.field(default_factory=list)


MAX_BATCH = 250


def _batch_too_large(count: int, field: str) -> SyncPayload | None:
    if count <= MAX_BATCH:
        return None
    error = DomainError("BATCH_TOO_LARGE", f"at most {MAX_BATCH} items per call", field)
    return SyncPayload(user_errors=user_errors(error))


@strawberry.type
class LedgerEntryPayload:
    entry: LedgerEntry | None = None
    customer: CustomerType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class VoucherPayload:
    voucher: Voucher | None = None
    customer: CustomerType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ProgrammePayload:
    programme: ProgrammeType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class IntegrationPayload:
    integration: Integration | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class TierPayload:
    tier: Tier | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RewardPayload:
    reward: Reward | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class EarningRulePayload:
    earning_rule: EarningRule | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


def _fields(data: Any, *skip: str) -> dict[str, Any]:
    return {k: v for k, v in dataclasses.asdict(data).items() if k not in ("id", *skip)}


def _optional_id(gid: Any, type_name: str) -> int | None:
    return decode_id(gid, type_name, "id") if gid is not None else None


def _push_to_shop(voucher_id: int) -> None:
    """After commit: a worker creates the code in the shop (retrying; repeats are no-ops)."""
    from loyalty.workers.vouchers import push_voucher_to_shop

    push_voucher_to_shop.send(voucher_id)


def _withdraw_from_shop(voucher_id: int) -> None:
    """After commit: a worker deletes the cancelled code from the shop (repeats are no-ops)."""
    from loyalty.workers.vouchers import withdraw_voucher_from_shop

    withdraw_voucher_from_shop.send(voucher_id)


async def _voucher_payload(voucher_id: int, currency: str) -> VoucherPayload:
    voucher = await m.Voucher.get(id=voucher_id)
    return VoucherPayload(
        voucher=Voucher.of(voucher, currency), customer=await _customer_type(voucher.customer_id)
    )


@strawberry.type
class Mutation(ConsentMutation, MessagingMutation):
    @strawberry.mutation(permission_classes=[Shopper], description="Spend points on a reward.")
    async def redeem_reward(self, info: Info, input: i.RedeemRewardInput) -> VoucherPayload:
        ctx = info.context
        try:
            customer = await ctx.shopper()
            if customer is None:
                raise NotFound("customer")
            reward_id = decode_id(input.reward_id, "Reward", "rewardId")

            async def redeem() -> dict[str, Any]:
                voucher = await rewards.redeem(customer, reward_id)
                return {"voucher_id": voucher.id}

            result = await run_once(
                ctx.shop_id,
                f"redeemReward:{customer.id}",
                input.idempotency_key,
                _body(input),
                redeem,
            )
        except DomainError as exc:
            return VoucherPayload(user_errors=user_errors(exc))
        payload = await _voucher_payload(result["voucher_id"], ctx.shop.currency)
        if payload.voucher is not None and payload.voucher.status == m.VoucherStatus.PENDING:
            _push_to_shop(result["voucher_id"])
        return payload

    @strawberry.mutation(permission_classes=[MerchantWrite])
    async def cancel_voucher(self, info: Info, input: i.CancelVoucherInput) -> VoucherPayload:
        ctx = info.context
        try:
            voucher_id = decode_id(input.voucher_id, "Voucher", "voucherId")
            voucher = await m.Voucher.get_or_none(id=voucher_id, shop_id=ctx.shop_id)
            if voucher is None:
                raise NotFound("voucher", "voucherId")
            voucher = await rewards.cancel_voucher(voucher, actor=ctx.actor)
        except DomainError as exc:
            return VoucherPayload(user_errors=user_errors(exc))
        # A code pushed into the shop has the platform's id, and must stop working there.
        # One still being pushed has none yet: that push withdraws it when it completes.
        if voucher_push.needs_withdrawal(voucher):
            _withdraw_from_shop(voucher.id)
        return await _voucher_payload(voucher.id, ctx.shop.currency)

    @strawberry.mutation(permission_classes=[MerchantWrite])
    async def upsert_customer(self, info: Info, input: i.CustomerInput) -> CustomerPayload:
        try:
            customer, _ = await sync_customer(info.context.shop_id, input.to_domain())
        except DomainError as exc:
            return CustomerPayload(user_errors=user_errors(exc))
        return CustomerPayload(customer=CustomerType.of(customer))

    @strawberry.mutation(
        permission_classes=[MerchantWrite],
        description="Report an order; points are awarded once per order, whatever the retries.",
    )
    async def record_order(self, info: Info, input: i.RecordOrderInput) -> OrderPayload:
        shop_id = info.context.shop_id

        async def record() -> dict[str, Any]:
            order = await orders.record_order(shop_id, input.to_domain())
            return {"order_id": order.id}

        try:
            result = await run_once(
                shop_id, "recordOrder", input.idempotency_key, _body(input), record
            )
        except DomainError as exc:
            return OrderPayload(user_errors=user_errors(exc))
        order = await m.Order.get(id=result["order_id"])
        return OrderPayload(order=Order.of(order), customer=await _customer_type(order.customer_id))

    @strawberry.mutation(
        permission_classes=[MerchantWrite],
        description="A batch of up to 250 orders for shops without webhooks; one result each.",
    )
    async def sync_orders(self, info: Info, input: i.SyncOrdersInput) -> SyncPayload:
        shop_id = info.context.shop_id
        if too_large := _batch_too_large(len(input.orders), "orders"):
            return too_large
        results = []
        for item in input.orders:
            try:
                order = await orders.record_order(shop_id, item.to_domain())
            except DomainError as exc:
                results.append(
                    SyncResult(external_id=item.external_id, user_errors=user_errors(exc))
                )
                continue
            results.append(
                SyncResult(
                    external_id=item.external_id,
                    order=Order.of(order),
                    customer=await _customer_type(order.customer_id),
                )
            )
        return SyncPayload(results=results)

    @strawberry.mutation(
        permission_classes=[MerchantWrite],
        description="A batch of up to 250 customer profiles; one result each.",
    )
    async def sync_customers(self, info: Info, input: i.SyncCustomersInput) -> SyncPayload:
        shop_id = info.context.shop_id
        if too_large := _batch_too_large(len(input.customers), "customers"):
            return too_large
        results = []
        for item in input.customers:
            try:
                customer, _ = await sync_customer(shop_id, item.to_domain())
            except DomainError as exc:
                results.append(
                    SyncResult(external_id=item.external_id, user_errors=user_errors(exc))
                )
                continue
            results.append(
                SyncResult(external_id=item.external_id, customer=CustomerType.of(customer))
            )
        return SyncPayload(results=results)

    @strawberry.mutation(
        permission_classes=[MerchantWrite],
        description="Report a refund; points are reversed pro rata. The balance may go negative.",
    )
    async def record_refund(self, info: Info, input: i.RecordRefundInput) -> OrderPayload:
        shop_id = info.context.shop_id

        async def refund() -> dict[str, Any]:
            order = await orders.record_refund(
                shop_id,
                RefundInput(
                    order_external_id=input.order_external_id,
                    amount=input.amount,
                    external_id=input.refund_external_id,
                ),
            )
            return {"order_id": order.id}

        try:
            result = await run_once(
                shop_id, "recordRefund", input.idempotency_key, _body(input), refund
            )
        except DomainError as exc:
            return OrderPayload(user_errors=user_errors(exc))
        order = await m.Order.get(id=result["order_id"])
        return OrderPayload(order=Order.of(order), customer=await _customer_type(order.customer_id))

    @strawberry.mutation(permission_classes=[MerchantWrite])
    async def adjust_points(self, info: Info, input: i.AdjustPointsInput) -> LedgerEntryPayload:
        ctx = info.context
        try:
            customer = await get_customer(
                ctx.shop_id, decode_id(input.customer_id, "Customer", "customerId")
            )

            async def adjust() -> dict[str, Any]:
                entry = await settings.adjust_points(
                    customer, input.points, actor=ctx.actor, reason=input.reason
                )
                return {"entry_id": entry.id}

            result = await run_once(
                ctx.shop_id, "adjustPoints", input.idempotency_key, _body(input), adjust
            )
        except DomainError as exc:
            return LedgerEntryPayload(user_errors=user_errors(exc))
        entry = await m.LedgerEntry.get(id=result["entry_id"])
        return LedgerEntryPayload(
            entry=LedgerEntry.of(entry), customer=await _customer_type(entry.customer_id)
        )

    @strawberry.mutation(
        permission_classes=[MerchantWrite],
        description="Award a one-off action (review, custom...) within its per-customer limit.",
    )
    async def complete_action(self, info: Info, input: i.CompleteActionInput) -> LedgerEntryPayload:
        ctx = info.context
        try:
            customer = await get_customer(
                ctx.shop_id, decode_id(input.customer_id, "Customer", "customerId")
            )
            rule = await earning.rule_for(ctx.shop_id, input.action)
            programme = await m.Programme.get(shop_id=ctx.shop_id)

            async def complete() -> dict[str, Any]:
                entry = await earning.complete_action(customer, programme, rule)
                return {"entry_id": entry.id}

            result = await run_once(
                ctx.shop_id, "completeAction", input.idempotency_key, _body(input), complete
            )
        except DomainError as exc:
            return LedgerEntryPayload(user_errors=user_errors(exc))
        entry = await m.LedgerEntry.get(id=result["entry_id"])
        return LedgerEntryPayload(
            entry=LedgerEntry.of(entry), customer=await _customer_type(entry.customer_id)
        )

    @strawberry.mutation(permission_classes=[MerchantWrite])
    async def update_programme(self, info: Info, input: i.UpdateProgrammeInput) -> ProgrammePayload:
        ctx = info.context
        try:
            row = await settings.update_programme(ctx.shop_id, dataclasses.asdict(input))
        except DomainError as exc:
            return ProgrammePayload(user_errors=user_errors(exc))
        return ProgrammePayload(programme=ProgrammeType.of(row, ctx.shop.currency))

    @strawberry.mutation(
        permission_classes=[MerchantWrite],
        description="Connect Shopify or WooCommerce. Secrets are stored, never returned.",
    )
    async def configure_integration(
        self, info: Info, input: i.ConfigureIntegrationInput
    ) -> IntegrationPayload:
        ctx = info.context
        try:
            row = await integration_settings.configure(
                ctx.shop_id, input.platform, _fields(input, "platform")
            )
        except DomainError as exc:
            return IntegrationPayload(user_errors=user_errors(exc))
        return IntegrationPayload(integration=Integration.of(row, ctx.shop.public_id))

    @strawberry.mutation(permission_classes=[MerchantWrite])
    async def create_tier(self, info: Info, input: i.TierInput) -> TierPayload:
        return await _save_tier(info, None, input)

    @strawberry.mutation(permission_classes=[MerchantWrite])
    async def update_tier(self, info: Info, input: i.TierInput) -> TierPayload:
        if input.id is None:
            return TierPayload(user_errors=user_errors(DomainError("INVALID", "id needed", "id")))
        return await _save_tier(info, input.id, input)

    @strawberry.mutation(permission_classes=[MerchantWrite])
    async def archive_tier(self, info: Info, input: i.ArchiveInput) -> TierPayload:
        return await _save_tier(info, input.id, None, archived=True)

    @strawberry.mutation(permission_classes=[MerchantWrite])
    async def create_reward(self, info: Info, input: i.RewardInput) -> RewardPayload:
        return await _save_reward(info, None, input)

    @strawberry.mutation(permission_classes=[MerchantWrite])
    async def update_reward(self, info: Info, input: i.RewardInput) -> RewardPayload:
        if input.id is None:
            return RewardPayload(user_errors=user_errors(DomainError("INVALID", "id needed", "id")))
        return await _save_reward(info, input.id, input)

    @strawberry.mutation(permission_classes=[MerchantWrite])
    async def archive_reward(self, info: Info, input: i.ArchiveInput) -> RewardPayload:
        return await _save_reward(info, input.id, None, archived=True)

    @strawberry.mutation(permission_classes=[MerchantWrite])
    async def create_earning_rule(
        self, info: Info, input: i.EarningRuleInput
    ) -> EarningRulePayload:
        return await _save_rule(info, None, input)

    @strawberry.mutation(permission_classes=[MerchantWrite])
    async def update_earning_rule(
        self, info: Info, input: i.EarningRuleInput
    ) -> EarningRulePayload:
        if input.id is None:
            return EarningRulePayload(
                user_errors=user_errors(DomainError("INVALID", "id needed", "id"))
            )
        return await _save_rule(info, input.id, input)

    @strawberry.mutation(permission_classes=[MerchantWrite])
    async def archive_earning_rule(self, info: Info, input: i.ArchiveInput) -> EarningRulePayload:
        return await _save_rule(info, input.id, None, active=False)


async def _save_tier(info: Info, gid: Any, data: Any, **extra: Any) -> TierPayload:
    try:
        changes = {**(_fields(data) if data else {}), **extra}
        row = await settings.save_tier(info.context.shop_id, _optional_id(gid, "Tier"), changes)
    except DomainError as exc:
        return TierPayload(user_errors=user_errors(exc))
    return TierPayload(tier=Tier.of(row))


async def _save_reward(info: Info, gid: Any, data: Any, **extra: Any) -> RewardPayload:
    try:
        changes = {**(_fields(data) if data else {}), **extra}
        row = await settings.save_reward(info.context.shop_id, _optional_id(gid, "Reward"), changes)
    except DomainError as exc:
        return RewardPayload(user_errors=user_errors(exc))
    return RewardPayload(reward=Reward.of(row, info.context.shop.currency))


async def _save_rule(info: Info, gid: Any, data: Any, **extra: Any) -> EarningRulePayload:
    try:
        changes = {**(_fields(data) if data else {}), **extra}
        row = await settings.save_earning_rule(
            info.context.shop_id, _optional_id(gid, "EarningRule"), changes
        )
    except DomainError as exc:
        return EarningRulePayload(user_errors=user_errors(exc))
    return EarningRulePayload(earning_rule=EarningRule.of(row))
