"""A demo shop to try the API with: a sample programme, a few customers and their orders.

The customers' history is replayed at the dates it happened (by moving the programme
clock), so some points are already confirmed and spendable, some still pending, and
the tiers are what that spend earns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from loyalty import clock
from loyalty.customers.service import upsert_customer
from loyalty.programme import earning, jobs
from loyalty.programme.inputs import CustomerInput, OrderInput
from loyalty.programme.models import (
    ActionKind,
    ActionLimit,
    EarningRule,
    ExpiryMode,
    OrderStatus,
    Programme,
    Reward,
    RewardKind,
    Tier,
    TierBasis,
    TierWindow,
)
from loyalty.programme.orders import record_order
from loyalty.shops.models import Shop
from loyalty.shops.service import create_api_key, create_shop, mint_customer_token

DEMO_SHOP_NAME = "Demo Tea Co."
DEMO_CUSTOMER = "alice-1001"
DEMO_TOKEN_TTL = timedelta(hours=12)

TIERS = [  # name, spend threshold in pence, multiplier %, perks
    ("Bronze", 0, 100, ["Birthday bonus"]),
    ("Silver", 25_000, 125, ["Birthday bonus", "1.25x points"]),
    ("Gold", 75_000, 150, ["Birthday bonus", "1.5x points", "Free UK shipping"]),
]
REWARDS = [  # name, kind, points cost, extra fields
    ("£5 off", RewardKind.FIXED_AMOUNT, 500, {"amount": 500}),
    (
        "10% off orders over £30",
        RewardKind.PERCENTAGE,
        1000,
        {"percentage": 10, "minimum_spend": 3000},
    ),
    ("Free UK shipping", RewardKind.FREE_SHIPPING, 300, {}),
    ("Free tea sampler", RewardKind.FREE_PRODUCT, 750, {"product_id": "sampler-01"}),
]
RULES = [  # key, kind, name, points, limit
    ("signup", ActionKind.SIGNUP, "Join the programme", 100, ActionLimit.ONCE),
    ("birthday", ActionKind.BIRTHDAY, "Happy birthday", 250, ActionLimit.PER_YEAR),
    ("review", ActionKind.REVIEW, "Write a product review", 50, ActionLimit.PER_DAY),
]
CUSTOMERS = [  # external id, first name, last name, orders as (days ago, pence)
    (DEMO_CUSTOMER, "Alice", "Archer", [(300, 42_000), (120, 26_000), (40, 18_000), (3, 6_500)]),
    ("ben-1002", "Ben", "Baker", [(200, 18_000), (20, 9_500)]),
    ("chloe-1003", "Chloe", "Cooper", [(5, 4_850)]),
    ("dev-1004", "Dev", "Dhillon", []),
]


@dataclass(frozen=True)
class DemoCredentials:
    """What `loyalty serve --demo` prints: shown once, never stored in clear."""

    shop: Shop
    api_key: str
    customer_external_id: str
    customer_token: str
    token_ttl: timedelta
    created: bool


async def _programme(shop: Shop) -> None:
    await Programme.filter(shop_id=shop.id).update(
        points_per_pound=5,
        approval_days=14,
        expiry_mode=ExpiryMode.PER_BATCH,
        expiry_days=365,
        tier_basis=TierBasis.SPEND,
        tier_window=TierWindow.ROLLING_12_MONTHS,
        tier_grace_days=30,
    )
    for name, threshold, multiplier, perks in TIERS:
        await Tier.create(
            shop=shop, name=name, threshold=threshold, multiplier_percent=multiplier, perks=perks
        )
    for name, kind, cost, extra in REWARDS:
        await Reward.create(shop=shop, name=name, kind=kind, points_cost=cost, **extra)
    for key, kind, name, points, limit in RULES:
        await EarningRule.create(
            shop=shop, key=key, kind=kind, name=name, points=points, limit=limit
        )


async def _history(shop: Shop) -> None:
    programme = await Programme.get(shop_id=shop.id)
    signup = await EarningRule.get(shop_id=shop.id, key="signup")
    start = clock.now()
    for external_id, first, last, orders in CUSTOMERS:
        person = CustomerInput(
            external_id=external_id,
            email=f"{first.lower()}@example.com",
            first_name=first,
            last_name=last,
        )
        joined = max((days for days, _ in orders), default=1) + 1
        try:
            clock.set_now(start - timedelta(days=joined))
            customer, _ = await upsert_customer(shop.id, person)
            await earning.complete_action(customer, programme, signup)
            for number, (days_ago, pence) in enumerate(orders, start=1):
                clock.set_now(start - timedelta(days=days_ago))
                order = OrderInput(
                    external_id=f"{external_id}-{number}",
                    currency="GBP",
                    subtotal=pence,
                    shipping=395,
                    status=OrderStatus.PAID,
                    customer=CustomerInput(external_id=external_id),
                    placed_at=clock.now(),
                )
                await record_order(shop.id, order)
        finally:
            clock.set_now(None)
    await jobs.confirm_pending(shop.id)


async def seed_demo_shop() -> Shop:
    """Create the demo shop with its programme and customers."""
    shop = await create_shop(DEMO_SHOP_NAME, "GBP")
    await _programme(shop)
    await _history(shop)
    return shop


async def ensure_demo(*, force: bool) -> DemoCredentials | None:
    """Fresh credentials for the demo shop, seeding it first if needed.

    With `force` (`serve --demo`) the demo shop is created when missing; without it,
    only a database with no shop at all gets one (the first embedded start).
    """
    shop = await Shop.filter(name=DEMO_SHOP_NAME).order_by("id").first()
    created = False
    if shop is None:
        if not force and await Shop.exists():
            return None
        shop = await seed_demo_shop()
        created = True
    elif not force:
        return None
    issued = await create_api_key(shop, "demo", ["read", "write"])
    token = mint_customer_token(shop, DEMO_CUSTOMER, DEMO_TOKEN_TTL)
    return DemoCredentials(
        shop=shop,
        api_key=issued.secret,
        customer_external_id=DEMO_CUSTOMER,
        customer_token=token,
        token_ttl=DEMO_TOKEN_TTL,
        created=created,
    )
