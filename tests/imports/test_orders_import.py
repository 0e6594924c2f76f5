"""Historic orders: 10,000 rows, bad rows by line, idempotent reruns, resume, points."""

from __future__ import annotations

import json

import pytest

from loyalty.customers.models import Customer
from loyalty.imports import import_orders, record_historic_order
from loyalty.imports.runner import checkpoint_path
from loyalty.programme import ledger, orders
from loyalty.programme.inputs import CustomerInput, OrderInput
from loyalty.programme.models import EntryKind, LedgerEntry, Order, OrderStatus, Programme, Tier
from tests.imports.helpers import ORDER_COLUMNS, order_row, write_csv


class Interrupted(Exception):
    pass


async def test_ten_thousand_rows_with_three_bad_ones(shop, tmp_path):
    rows = [order_row(i) for i in range(10_000)]
    rows[1234]["subtotal"] = "12,50"  # line 1236: a comma is not a decimal point
    rows[5000]["order_id"] = ""  # line 5002
    rows[9998]["placed_at"] = "31/12/2024"  # line 10000
    path = write_csv(tmp_path / "orders.csv", ORDER_COLUMNS, rows)

    report = await import_orders(shop, path)

    assert [(f.line, f.reason) for f in report.failures] == [
        (1236, "subtotal: not a decimal amount: '12,50'"),
        (5002, "order_id: missing"),
        (10000, "placed_at: not an ISO 8601 date or time: '31/12/2024'"),
    ]
    assert (report.read, report.imported, report.skipped) == (10_000, 9_997, 0)
    assert await Order.filter(shop_id=shop.id).count() == 9_997
    assert await Customer.filter(shop_id=shop.id).count() == 1_000
    assert await LedgerEntry.filter(shop_id=shop.id).count() == 0  # no points by default
    assert not checkpoint_path(path).exists()

    again = await import_orders(shop, path)

    assert (again.imported, again.skipped, again.failed) == (0, 9_997, 3)
    assert [f.line for f in again.failures] == [1236, 5002, 10000]
    assert await Order.filter(shop_id=shop.id).count() == 9_997
    assert await Customer.filter(shop_id=shop.id).count() == 1_000
    assert await LedgerEntry.filter(shop_id=shop.id).count() == 0


async def test_a_historic_order_feeds_the_profile_spend_and_tier_without_points(shop, tmp_path):
    gold = await Tier.create(shop_id=shop.id, name="Gold", threshold=10_000)
    rows = [order_row(i, customers=1) for i in range(3)]
    for row in rows:
        row["subtotal"] = "40.00"
    path = write_csv(tmp_path / "orders.csv", ORDER_COLUMNS, rows)

    report = await import_orders(shop, path)

    assert report.ok and report.imported == 3
    customer = await Customer.get(shop_id=shop.id, external_id="cust-0")
    assert customer.email == "shopper0@example.co.uk"
    assert customer.tier_id == gold.id  # £120 of spend in the window
    assert customer.last_order_at == max(o.placed_at for o in await Order.all())
    assert (customer.points_balance, customer.pending_points) == (0, 0)
    order = await Order.get(external_id="#100000")
    assert (order.points_awarded, order.awarded_at is not None) == (0, True)
    # The shop sends the same order again later: still no points for history.
    await orders.record_order(
        shop.id,
        OrderInput(
            external_id="#100000",
            currency="GBP",
            subtotal=4000,
            status=OrderStatus.FULFILLED,
            customer=CustomerInput(external_id="cust-0"),
        ),
    )
    assert await LedgerEntry.filter(shop_id=shop.id).count() == 0


async def test_award_points_earns_as_if_the_orders_were_live(shop, tmp_path):
    await Programme.filter(shop_id=shop.id).update(approval_days=0)
    rows = [order_row(i, customers=2) for i in range(4)]
    for row in rows:
        row.update(subtotal="25.00", discounts="0")
    path = write_csv(tmp_path / "orders.csv", ORDER_COLUMNS, rows)

    report = await import_orders(shop, path, award_points=True)
    again = await import_orders(shop, path, award_points=True)

    assert (report.imported, again.imported, again.skipped) == (4, 0, 4)
    assert await LedgerEntry.filter(shop_id=shop.id, kind=EntryKind.EARN).count() == 4
    for customer in await Customer.filter(shop_id=shop.id):
        check = await ledger.check_balance(customer.id)
        assert check.ok and check.cached_points == 50  # two orders of £25 at 1 point per £


async def test_record_historic_order_is_idempotent(shop):
    data = OrderInput(
        external_id="H1",
        currency="GBP",
        subtotal=1500,
        status=OrderStatus.PAID,
        customer=CustomerInput(email="Someone@Example.com"),
    )
    first, created = await record_historic_order(shop.id, data)
    second, created_again = await record_historic_order(shop.id, data, award_points=True)
    assert (created, created_again, first.id) == (True, False, second.id)
    assert await LedgerEntry.all().count() == 0


async def test_an_interrupted_run_resumes_from_its_checkpoint(shop, tmp_path):
    rows = [order_row(i, customers=50) for i in range(1_000)]
    rows[10]["status"] = "lost"  # line 12, in the part done before the interruption
    path = write_csv(tmp_path / "orders.csv", ORDER_COLUMNS, rows)

    def stop_after_two_batches(last_line: int) -> None:
        if last_line >= 501:
            raise Interrupted

    with pytest.raises(Interrupted):
        await import_orders(shop, path, batch_size=250, after_batch=stop_after_two_batches)
    saved = json.loads(checkpoint_path(path).read_text())
    assert (saved["line"], saved["imported"]) == (501, 499)
    assert await Order.filter(shop_id=shop.id).count() == 499

    report = await import_orders(shop, path, batch_size=250)

    assert report.resumed_from_line == 501
    assert (report.read, report.imported, report.skipped) == (1_000, 999, 0)
    assert [f.line for f in report.failures] == [12]
    assert "unknown status 'lost'" in report.failures[0].reason
    assert await Order.filter(shop_id=shop.id).count() == 999
    assert not checkpoint_path(path).exists()


async def test_a_crash_inside_a_batch_rolls_it_back_and_the_rerun_completes(
    shop, tmp_path, monkeypatch
):
    from loyalty.imports.orders import OrderImporter

    path = write_csv(tmp_path / "orders.csv", ORDER_COLUMNS, [order_row(i) for i in range(30)])
    real_apply = OrderImporter.apply

    async def crash_on_line_25(self, row, item):
        if row.line == 25:
            raise RuntimeError("power cut")
        return await real_apply(self, row, item)

    monkeypatch.setattr(OrderImporter, "apply", crash_on_line_25)
    with pytest.raises(RuntimeError):
        await import_orders(shop, path, batch_size=10)
    assert await Order.filter(shop_id=shop.id).count() == 20  # batches 1 and 2 committed
    monkeypatch.setattr(OrderImporter, "apply", real_apply)

    report = await import_orders(shop, path, batch_size=10)

    assert report.resumed_from_line == 21
    assert (report.imported, report.skipped, report.failed) == (30, 0, 0)
    assert await Order.filter(shop_id=shop.id).count() == 30


async def test_a_changed_file_ignores_the_old_checkpoint(shop, tmp_path):
    path = write_csv(tmp_path / "orders.csv", ORDER_COLUMNS, [order_row(i) for i in range(5)])
    checkpoint_path(path).write_text(json.dumps({"kind": "orders", "line": 4, "imported": 3}))

    report = await import_orders(shop, path)

    assert report.resumed_from_line is None
    assert report.imported == 5


async def test_json_lines_with_bad_lines(shop, tmp_path):
    path = tmp_path / "orders.jsonl"
    lines = [
        json.dumps(
            {
                "order_id": "J1",
                "email": "a@example.com",
                "subtotal": 12.5,
                "placed_at": "2024-06-01",
            }
        ),
        "",
        "{not json",
        json.dumps(["an", "array"]),
        json.dumps({"order_id": "J2", "subtotal": "9.999", "placed_at": "2024-06-01"}),
        json.dumps({"order_id": "J3", "subtotal": "9.99", "placed_at": "2024-06-01T10:00:00"}),
        json.dumps({"Order ID": "J4", "Subtotal": "5", "Placed At": "2024-06-01T10:00:00Z"}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    report = await import_orders(shop, path)

    assert [f.line for f in report.failures] == [3, 4, 5, 6]
    assert "not valid JSON" in report.failures[0].reason
    assert "more than 2 decimal places" in report.failures[2].reason
    assert "no UTC offset" in report.failures[3].reason
    j1 = await Order.get(external_id="J1")
    assert (j1.subtotal, j1.currency) == (1250, "GBP")
    assert (await Order.get(external_id="J4")).customer_id is None  # a guest order


async def test_an_excel_csv_with_a_bom_and_a_multiline_field(shop, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes(
        "\ufefforder_id,first_name,email,subtotal,placed_at\r\n"
        'A1,"Ann\r\nMarie",ann@example.com,10.00,2024-01-01\r\n'
        "A2,Bob,bob@example,10.00,2024-01-01\r\n".encode()
    )

    report = await import_orders(shop, path)

    assert report.imported == 1
    assert [f.line for f in report.failures] == [4]  # the row after the 2-line one
    assert "email" in report.failures[0].reason
