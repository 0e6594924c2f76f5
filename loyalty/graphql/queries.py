"""Read side: the shopper's `me`, the catalogue, and merchant look-ups, all shop-scoped."""

from __future__ import annotations

import strawberry
from strawberry import relay
from strawberry.types import Info

from loyalty.customers.models import Customer
from loyalty.customers.service import normalise_email
from loyalty.errors import DomainError
from loyalty.graphql.consent import ConsentQuery
from loyalty.graphql.errors import decode_id
from loyalty.graphql.messaging import MessagingQuery
from loyalty.graphql.pagination import paginate
from loyalty.graphql.permissions import Authenticated, MerchantRead, PublicError, Shopper
from loyalty.graphql.types import CustomerType, Integration, Order, ProgrammeType, Reward
from loyalty.integrations.models import Integration as IntegrationRow
from loyalty.programme import models as m


@strawberry.type
class Query(ConsentQuery, MessagingQuery):
    @strawberry.field(
        permission_classes=[Shopper],
        description="The shopper behind the customer token (null until the shop syncs them).",
    )
    async def me(self, info: Info) -> CustomerType | None:
        customer = await info.context.shopper()
        return CustomerType.of(customer) if customer else None

    @strawberry.field(permission_classes=[Authenticated], description="Active rewards.")
    async def rewards(self, info: Info) -> list[Reward]:
        shop = info.context.shop
        rows = await m.Reward.filter(shop_id=shop.id, archived=False).order_by("points_cost", "id")
        return [Reward.of(r, shop.currency) for r in rows]

    @strawberry.field(permission_classes=[MerchantRead])
    async def customers(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        email: str | None = None,
        tier_id: relay.GlobalID | None = None,
    ) -> relay.Connection[CustomerType]:
        rows = Customer.filter(shop_id=info.context.shop_id)
        try:
            if email is not None:
                rows = rows.filter(email=normalise_email(email))
            if tier_id is not None:
                rows = rows.filter(tier_id=decode_id(tier_id, "Tier", "tierId"))
        except DomainError as exc:
            raise PublicError(exc.message, extensions={"code": exc.code}) from exc
        return await paginate(rows, first=first, after=after, to_node=CustomerType.of)

    @strawberry.field(permission_classes=[MerchantRead])
    async def customer(self, info: Info, id: relay.GlobalID) -> CustomerType | None:
        if id.type_name != "Customer" or not id.node_id.isdigit():
            return None
        row = await Customer.get_or_none(shop_id=info.context.shop_id, id=int(id.node_id))
        return CustomerType.of(row) if row else None

    @strawberry.field(permission_classes=[MerchantRead])
    async def order(self, info: Info, external_id: str) -> Order | None:
        row = await m.Order.get_or_none(shop_id=info.context.shop_id, external_id=external_id)
        return Order.of(row) if row else None

    @strawberry.field(permission_classes=[MerchantRead])
    async def integrations(self, info: Info) -> list[Integration]:
        shop = info.context.shop
        rows = await IntegrationRow.filter(shop_id=shop.id).order_by("platform")
        return [Integration.of(row, shop.public_id) for row in rows]

    @strawberry.field(permission_classes=[MerchantRead])
    async def programme(self, info: Info) -> ProgrammeType:
        row = await m.Programme.get(shop_id=info.context.shop_id)
        return ProgrammeType.of(row, info.context.shop.currency)
