"""Members from Smile.io and LoyaltyLion exports: one IMPORT entry each, tiers by name."""

from __future__ import annotations

from loyalty.customers.models import Customer
from loyalty.imports import import_members
from loyalty.programme import ledger
from loyalty.programme.models import EntryKind, LedgerEntry, Tier

SMILE = (
    "First name,Last name,Email,Points balance,VIP tier,Member status\n"
    "Ada,Lovelace,ADA@example.co.uk,1200,Gold,member\n"
    "Alan,Turing,alan@example.co.uk,0,,member\n"
    "Grace,Hopper,grace@example.co.uk,350,Platinum,member\n"
    "Bad,Points,bad@example.co.uk,12.5,,member\n"
    "No,Email,,100,,member\n"
)

LOYALTYLION = (
    "id,merchant_id,email,points_approved,points_pending,points_spent,tier,enrolled\n"
    "9001,shopify-1,mary@example.co.uk,400,50,100,silver,true\n"
    "9002,shopify-2,kate@example.co.uk,75,0,0,,true\n"
)


async def _tiers(shop):
    silver = await Tier.create(shop_id=shop.id, name="Silver", threshold=10_000)
    gold = await Tier.create(shop_id=shop.id, name="Gold", threshold=50_000)
    return silver, gold


async def _member(shop, email):
    customer = await Customer.get(shop_id=shop.id, email=email)
    check = await ledger.check_balance(customer.id)
    assert check.ok, check
    entries = await LedgerEntry.filter(customer_id=customer.id)
    assert [e.kind for e in entries] == [EntryKind.IMPORT]
    assert entries[0].idempotency_key == f"import:member:{customer.id}"
    return customer, check.cached_points


async def test_a_smile_export(shop, tmp_path):
    _, gold = await _tiers(shop)
    path = tmp_path / "smile_customers.csv"
    path.write_text(SMILE, encoding="utf-8")

    report = await import_members(shop, path)

    assert [(f.line, f.reason) for f in report.failures] == [
        (4, "tier: no tier named 'Platinum' (tiers: Silver, Gold)"),
        (5, "points: not a whole number: '12.5'"),
        (6, "email: missing"),
    ]
    assert (report.read, report.imported, report.skipped) == (5, 2, 0)
    ada, ada_points = await _member(shop, "ada@example.co.uk")
    assert (ada_points, ada.tier_id, ada.first_name) == (1200, gold.id, "Ada")
    alan, alan_points = await _member(shop, "alan@example.co.uk")
    assert (alan_points, alan.tier_id) == (0, None)
    assert not await Customer.filter(email="grace@example.co.uk").exists()  # rolled back

    again = await import_members(shop, path)

    assert (again.imported, again.skipped, again.failed) == (0, 2, 3)
    assert await LedgerEntry.filter(shop_id=shop.id).count() == 2
    assert (await Customer.get(id=ada.id)).points_balance == 1200


async def test_a_loyaltylion_export(shop, tmp_path):
    silver, _ = await _tiers(shop)
    path = tmp_path / "loyaltylion.csv"
    path.write_text(LOYALTYLION, encoding="utf-8")

    report = await import_members(shop, path)

    assert report.ok and report.imported == 2
    mary, points = await _member(shop, "mary@example.co.uk")
    assert (points, mary.pending_points, mary.tier_id) == (400, 0, silver.id)
    assert mary.external_id == "shopify-1"
    kate, points = await _member(shop, "kate@example.co.uk")
    assert (points, kate.tier_id) == (75, None)

    again = await import_members(shop, path, include_pending=True)
    assert (again.imported, again.skipped) == (0, 2)
    assert await LedgerEntry.filter(shop_id=shop.id).count() == 2


async def test_pending_points_can_be_included(shop, tmp_path):
    path = tmp_path / "loyaltylion.csv"
    path.write_text(LOYALTYLION.replace("silver", ""), encoding="utf-8")

    await import_members(shop, path, include_pending=True)

    _, points = await _member(shop, "mary@example.co.uk")
    assert points == 450


async def test_an_existing_customer_keeps_a_higher_tier(shop, tmp_path):
    silver, gold = await _tiers(shop)
    from loyalty.customers.service import upsert_customer
    from loyalty.programme.inputs import CustomerInput

    customer, _ = await upsert_customer(shop.id, CustomerInput(email="mary@example.co.uk"))
    await Customer.filter(id=customer.id).update(tier_id=gold.id)
    path = tmp_path / "loyaltylion.csv"
    path.write_text(LOYALTYLION, encoding="utf-8")

    await import_members(shop, path)

    mary, points = await _member(shop, "mary@example.co.uk")
    assert (mary.id, mary.tier_id, points) == (customer.id, gold.id, 400)
