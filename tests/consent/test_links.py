"""The signed email links through the real HTTP routes: confirm, unsubscribe, one-click."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from loyalty import clock
from loyalty.consent import links, service
from loyalty.consent.models import Channel, ConsentEvent, ConsentSource, ConsentStatus, Purpose
from tests.consent.conftest import SECRET, T0, make_customer

EMAIL, MARKETING = Channel.EMAIL, Purpose.MARKETING


async def _pending(customer):
    change = await service.subscribe(
        customer, EMAIL, source=ConsentSource.STOREFRONT_FORM, double_opt_in=True
    )
    return service.confirmation_token(SECRET, change.state)


def _unsubscribe_token(customer, purpose=MARKETING):
    return links.unsubscribe_token(
        SECRET, shop_id=customer.shop_id, customer_id=customer.id, channel=EMAIL, purpose=purpose
    )


async def _status(customer, purpose=MARKETING):
    state = await service.get_state(customer, EMAIL, purpose)
    return state.status if state else ConsentStatus.NEVER_SUBSCRIBED


async def test_confirmation_link_subscribes_and_is_idempotent(http, shop_a, now):
    customer = await make_customer(shop_a)
    token = await _pending(customer)
    url = links.confirmation_url("https://loyalty.example", token)
    assert urlsplit(url).path == "/consent/confirm"

    response = await http.get("/consent/confirm", params={"token": token})
    assert response.status_code == 200, response.text
    assert "subscribed" in response.text
    assert response.headers["content-type"].startswith("text/html")
    assert await _status(customer) == ConsentStatus.SUBSCRIBED
    event = await ConsentEvent.filter(source="double_opt_in_confirmation").get()
    assert event.evidence["ip"] == "203.0.113.7"
    assert event.evidence["user_agent"] == "pytest-ua"

    again = await http.get("/consent/confirm", params={"token": token})
    assert again.status_code == 200
    assert await ConsentEvent.filter(source="double_opt_in_confirmation").count() == 1


async def test_expired_confirmation_link_is_refused(http, shop_a, now):
    customer = await make_customer(shop_a)
    token = await _pending(customer)
    clock.set_now(T0 + links.CONFIRMATION_MAX_AGE + timedelta(minutes=1))
    response = await http.get("/consent/confirm", params={"token": token})
    assert response.status_code == 400
    assert "expired" in response.text
    assert await _status(customer) == ConsentStatus.PENDING


async def test_confirmation_link_inside_seven_days_works(http, shop_a, now):
    customer = await make_customer(shop_a)
    token = await _pending(customer)
    clock.set_now(T0 + links.CONFIRMATION_MAX_AGE - timedelta(minutes=1))
    response = await http.get("/consent/confirm", params={"token": token})
    assert response.status_code == 200
    assert await _status(customer) == ConsentStatus.SUBSCRIBED


async def test_tampered_or_foreign_tokens_are_refused(http, shop_a, now):
    customer = await make_customer(shop_a)
    token = await _pending(customer)
    payload, _, signature = token.rpartition(".")
    tampered = f"{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    other_key = service.confirmation_token(
        "another-secret", await service.get_state(customer, EMAIL, MARKETING)
    )
    unsubscribe = _unsubscribe_token(customer)  # right key, wrong action
    for bad in (tampered, other_key, unsubscribe, "", "garbage"):
        response = await http.get("/consent/confirm", params={"token": bad})
        assert response.status_code == 400, bad
        assert "not valid" in response.text
    assert await _status(customer) == ConsentStatus.PENDING
    bad_unsub = await http.post("/unsubscribe", params={"token": token})
    assert bad_unsub.status_code == 400


async def test_one_click_unsubscribe_takes_effect_at_once(http, shop_a, now):
    customer = await make_customer(shop_a)
    await service.subscribe(customer, EMAIL, source=ConsentSource.CHECKOUT)
    token = _unsubscribe_token(customer)
    clock.set_now(T0 + timedelta(days=400))  # unsubscribe links do not expire

    response = await http.post(
        "/unsubscribe",
        params={"token": token},
        content="List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200, response.text
    assert await _status(customer) == ConsentStatus.UNSUBSCRIBED
    assert not (await service.can_send(customer, EMAIL, MARKETING)).allowed
    event = await ConsentEvent.filter(source="unsubscribe_link").get()
    assert event.from_status == ConsentStatus.SUBSCRIBED
    assert event.evidence == {"ip": "203.0.113.7", "user_agent": "pytest-ua", "one_click": True}

    repeat = await http.post(
        "/unsubscribe", params={"token": token}, content="List-Unsubscribe=One-Click"
    )
    assert repeat.status_code == 200
    assert await ConsentEvent.filter(source="unsubscribe_link").count() == 1


async def test_unsubscribe_page_shows_a_button_that_posts(http, shop_a, now):
    customer = await make_customer(shop_a)
    await service.subscribe(customer, EMAIL, source=ConsentSource.CHECKOUT)
    token = _unsubscribe_token(customer)

    page = await http.get("/unsubscribe", params={"token": token})
    assert page.status_code == 200
    assert "<button" in page.text and 'method="post"' in page.text
    assert await _status(customer) == ConsentStatus.SUBSCRIBED  # a GET changes nothing

    action = page.text.split('action="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert parse_qs(urlsplit(action).query)["token"] == [token]
    clicked = await http.post(action, data={"List-Unsubscribe": "One-Click"})
    assert clicked.status_code == 200
    assert await _status(customer) == ConsentStatus.UNSUBSCRIBED

    bad = await http.get("/unsubscribe", params={"token": token + "x"})
    assert bad.status_code == 400


async def test_unsubscribe_token_naming_another_shop_is_refused(http, shop_a, shop_b, now):
    customer = await make_customer(shop_a)
    forged = links.unsubscribe_token(
        SECRET, shop_id=shop_b.shop.id, customer_id=customer.id, channel=EMAIL, purpose=MARKETING
    )
    response = await http.post("/unsubscribe", params={"token": forged})
    assert response.status_code == 400
    assert await ConsentEvent.all().count() == 0
