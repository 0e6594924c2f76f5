"""Members migrated from LoyaltyLion or Smile.io: profile, points balance and tier.

Each member gets ONE ledger entry of kind IMPORT (key `import:member:<customer id>`),
so a second run finds it and changes nothing. Headers are matched case-insensitively,
spaces, hyphens and underscores alike:

    email                  Smile "Email"; LoyaltyLion "email" (required)
    points                 Smile "Points balance"; LoyaltyLion "points_approved";
                           also "points", "balance", "available_points"
    pending points         LoyaltyLion "points_pending": added only with include_pending
    tier                   Smile "VIP tier"; LoyaltyLion "tier" / "loyalty_tier"
    first_name, last_name  Smile "First name"/"Last name"
    customer_id            the shop's customer id (LoyaltyLion "merchant_id"), optional
    birthday               Smile "Date of birth"; LoyaltyLion "birthday", optional
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loyalty import clock
from loyalty.customers.models import Customer
from loyalty.customers.service import normalise_email, upsert_customer
from loyalty.imports import values
from loyalty.imports.readers import Row
from loyalty.imports.runner import DEFAULT_BATCH_SIZE, ImportReport, Outcome, RowError, run_import
from loyalty.programme import ledger, tiers
from loyalty.programme.inputs import CustomerInput
from loyalty.programme.models import EntryKind, LedgerEntry, Programme, Tier
from loyalty.shops.models import Shop

EMAIL = ("email", "email_address", "customer_email")
POINTS = (
    "points_balance",
    "points_approved",
    "approved_points",
    "available_points",
    "points",
    "balance",
)
PENDING = ("points_pending", "pending_points")
TIER = ("vip_tier", "tier", "loyalty_tier", "tier_name", "vip_tier_name")
CUSTOMER_ID = ("customer_id", "merchant_id", "shopify_customer_id")
BIRTHDAY = ("date_of_birth", "birthday", "birth_date")


@dataclass(frozen=True)
class Member:
    profile: CustomerInput
    points: int
    pending: int
    tier_name: str | None


def member_key(customer_id: int) -> str:
    return f"import:member:{customer_id}"


class MemberImporter:
    kind = "members"

    def __init__(self, shop: Shop, programme: Programme, source: str, include_pending: bool):
        self.shop = shop
        self.programme = programme
        self.source = source
        self.include_pending = include_pending
        self._tiers: list[Tier] | None = None
        self._ids: dict[str, int] = {}
        self._imported: set[str] = set()

    def options(self) -> dict[str, Any]:
        return {"include_pending": self.include_pending}

    def _tier_named(self, name: str) -> Tier:
        assert self._tiers is not None
        wanted = name.strip().casefold()
        for tier in self._tiers:
            if tier.name.strip().casefold() == wanted:
                return tier
        known = ", ".join(t.name for t in self._tiers) or "none defined"
        raise RowError("tier", f"no tier named {name!r} (tiers: {known})")

    def parse(self, row: Row) -> Member:
        data = row.data
        raw_email = values.text(data, *EMAIL)
        if raw_email is None:
            raise RowError("email", "missing")
        email = normalise_email(raw_email)
        points = values.integer(values.pick(data, *POINTS), "points", default=0)
        pending = values.integer(values.pick(data, *PENDING), "points_pending", default=0)
        if points < 0:
            raise RowError("points", f"a balance to import must not be negative: {points}")
        if pending < 0:
            raise RowError("points_pending", f"must not be negative: {pending}")
        profile = CustomerInput(
            external_id=values.text(data, *CUSTOMER_ID),
            email=email,
            first_name=values.text(data, "first_name"),
            last_name=values.text(data, "last_name"),
            birthday=values.day(values.pick(data, *BIRTHDAY), "birthday"),
        )
        return Member(profile, points, pending, values.text(data, *TIER))

    async def prepare_batch(self, items: list[Member]) -> None:
        if self._tiers is None:
            self._tiers = await tiers.active_tiers(self.shop.id)
        emails = {item.profile.email for item in items}
        found = await Customer.filter(shop_id=self.shop.id, email__in=emails).values_list(
            "email", "id"
        )
        self._ids = dict(found)
        keys = [member_key(customer_id) for _, customer_id in found]
        self._imported = set(
            await LedgerEntry.filter(shop_id=self.shop.id, idempotency_key__in=keys).values_list(
                "idempotency_key", flat=True
            )
        )

    def present(self, item: Member) -> bool:
        """Imported before: change nothing, not even the profile."""
        customer_id = self._ids.get(item.profile.email)
        return customer_id is not None and member_key(customer_id) in self._imported

    async def apply(self, row: Row, item: Member) -> Outcome:
        tier = self._tier_named(item.tier_name) if item.tier_name else None
        # No sign-up reward: a migrated member is not a new sign-up.
        customer, _ = await upsert_customer(self.shop.id, item.profile)
        key = member_key(customer.id)
        if await ledger.existing(self.shop.id, key):
            return Outcome.SKIPPED  # matched by customer_id to a member already imported
        total = item.points + (item.pending if self.include_pending else 0)
        await ledger.post(
            customer,
            EntryKind.IMPORT,
            points=total,
            description=f"Points balance imported from {self.source}",
            actor="import",
            reason=f"{self.source} line {row.line}",
            idempotency_key=key,
        )
        if tier is not None:
            await self._set_tier(customer, tier)
        elif self._tiers:
            await tiers.evaluate_tier(customer, self.programme)
        self._ids[item.profile.email] = customer.id
        self._imported.add(key)
        return Outcome.IMPORTED

    async def _set_tier(self, customer: Customer, tier: Tier) -> None:
        """The tier the member held before; never lower than one they already hold here."""
        assert self._tiers is not None
        rank = {t.id: i for i, t in enumerate(self._tiers)}
        if customer.tier_id in rank and rank[customer.tier_id] >= rank[tier.id]:
            return
        changes = {"tier_id": tier.id, "tier_achieved_at": clock.now(), "tier_below_since": None}
        await Customer.filter(id=customer.id).update(**changes)
        customer.update_from_dict(changes)

    async def end_batch(self) -> None:
        return None


async def import_members(
    shop: Shop,
    path: Path | str,
    *,
    include_pending: bool = False,
    fmt: str | None = None,
    resume: bool = True,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress=None,
    after_batch=None,
) -> ImportReport:
    """Import members from a LoyaltyLion or Smile.io export (see the module docstring)."""
    programme = await Programme.get(shop_id=shop.id)
    importer = MemberImporter(shop, programme, Path(path).name, include_pending)
    return await run_import(
        importer,
        path,
        shop_id=shop.id,
        fmt=fmt,
        resume=resume,
        batch_size=batch_size,
        on_progress=on_progress,
        after_batch=after_batch,
    )
