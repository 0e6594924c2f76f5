"""Message templates over HTTP: save and list, validation, sandbox, preview, SMS length."""

from __future__ import annotations

import pytest

from loyalty.messaging.models import MessageTemplate
from tests.graphql.helpers import create_customer_with_points, create_reward, setup_programme

SAVE = """mutation($input: SaveMessageTemplateInput!) { saveMessageTemplate(input: $input) {
  template { id key channel purpose subject body html whatsappContentSid
             smsLength { encoding characters units segments perSegment } }
  userErrors { field message code } } }"""
LIST = """query($channel: ConsentChannel) { messageTemplates(channel: $channel) {
  key channel purpose subject body smsLength { encoding characters segments } } }"""
PREVIEW = """query($key: String!, $channel: ConsentChannel!, $customer: ID!) {
  previewMessage(templateKey: $key, channel: $channel, customerId: $customer) {
    subject body html smsLength { encoding characters segments } } }"""


async def customer_with_points(gql, auth, external_id: str, points: int) -> str:
    await setup_programme(gql, auth)
    return await create_customer_with_points(gql, auth, external_id, points)


async def save(gql, auth, **fields):
    data = await gql.run(SAVE, {"input": fields}, **auth.merchant)
    return data["saveMessageTemplate"]


async def test_save_and_list_templates(gql, shop_a, shop_b):
    sms = await save(
        gql, shop_a, key="balance", channel="SMS", body="Hi {{ first_name }}: {{ points_balance }}"
    )
    assert sms["userErrors"] == []
    assert sms["template"]["key"] == "balance" and sms["template"]["purpose"] == "MARKETING"
    # Measured on the body rendered with sample personalisation (Alex, 1250).
    assert sms["template"]["smsLength"] == {
        "encoding": "GSM-7",
        "characters": len("Hi Alex: 1250"),
        "units": len("Hi Alex: 1250"),
        "segments": 1,
        "perSegment": 160,
    }
    email = await save(
        gql,
        shop_a,
        key="balance",
        channel="EMAIL",
        purpose="MARKETING",
        subject="{{ first_name }}, your points",
        body="You have {{ points_balance }} points.",
        html="<p>You have <b>{{ points_balance }}</b> points.</p>",
    )
    assert email["userErrors"] == [] and email["template"]["smsLength"] is None
    # Saving the same key and channel replaces it.
    again = await save(gql, shop_a, key="balance", channel="SMS", body="New text")
    assert again["template"]["id"] == sms["template"]["id"]

    listed = (await gql.run(LIST, **shop_a.reader))["messageTemplates"]
    assert [(t["key"], t["channel"]) for t in listed] == [("balance", "EMAIL"), ("balance", "SMS")]
    assert listed[1]["body"] == "New text"
    assert listed[1]["smsLength"] == {"encoding": "GSM-7", "characters": 8, "segments": 1}
    only_sms = (await gql.run(LIST, {"channel": "SMS"}, **shop_a.reader))["messageTemplates"]
    assert [t["channel"] for t in only_sms] == ["SMS"]
    # Another shop sees none of them.
    assert (await gql.run(LIST, **shop_b.reader))["messageTemplates"] == []


async def test_email_needs_a_subject(gql, shop_a):
    result = await save(gql, shop_a, key="e", channel="EMAIL", body="Hello")
    assert result["template"] is None
    assert result["userErrors"] == [
        {"field": ["input", "subject"], "message": "an email template needs a subject",
         "code": "INVALID"}
    ]  # fmt: skip


async def test_bad_jinja_is_refused_naming_the_line(gql, shop_a):
    result = await save(
        gql, shop_a, key="broken", channel="SMS", body="Hi {{ first_name }}\n{% if tier %}Gold"
    )
    assert result["template"] is None
    [error] = result["userErrors"]
    assert error["code"] == "TEMPLATE_SYNTAX" and error["field"] == ["input", "body"]
    assert "line 2" in error["message"]

    unknown = await save(
        gql, shop_a, key="typo", channel="SMS", body="Hello\n\nHi {{ frist_name }}"
    )
    [error] = unknown["userErrors"]
    assert error["code"] == "TEMPLATE_UNKNOWN_VARIABLE"
    assert "line 3" in error["message"] and "frist_name" in error["message"]
    assert await MessageTemplate.filter(shop_id=shop_a.shop.id).count() == 0


@pytest.mark.parametrize(
    "body",
    [
        "{{ ''.__class__.__mro__ }}",
        "Hi\n{{ first_name.__class__.__mro__[1].__subclasses__() }}",
        "{{ first_name['__class__'] }}",
        "{{ first_name|attr('__class__') }}",
        "{{ '{0.__class__.__mro__}'.format(first_name) }}",
    ],
)
async def test_sandbox_escape_is_refused(gql, shop_a, body):
    result = await save(gql, shop_a, key="evil", channel="SMS", body=body)
    assert result["template"] is None
    [error] = result["userErrors"]
    assert error["code"] == "TEMPLATE_UNSAFE" and error["field"] == ["input", "body"]
    assert await MessageTemplate.filter(shop_id=shop_a.shop.id).count() == 0


async def test_a_stored_unsafe_template_previews_as_an_error_not_internals(gql, shop_a):
    """Even a template that got in another way is refused by the sandbox at render time."""
    await MessageTemplate.create(
        shop_id=shop_a.shop.id, key="evil", channel="sms", body="{{ ''.__class__.__mro__ }}"
    )
    customer = await customer_with_points(gql, shop_a, "c1", 10)
    response = await gql.post(
        PREVIEW, {"key": "evil", "channel": "SMS", "customer": customer}, **shop_a.reader
    )
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "TEMPLATE_UNSAFE"
    assert error["message"].startswith("template refused") and "<class" not in error["message"]


async def test_preview_is_personalised(gql, shop_a):
    await setup_programme(gql, shop_a)
    await create_reward(gql, shop_a, 200, name="£5 off")
    await gql.run(
        "mutation($input: CustomerInput!) { upsertCustomer(input: $input) "
        "{ userErrors { code } } }",
        {"input": {"externalId": "c1", "email": "c1@example.com", "firstName": "Zoë"}},
        **shop_a.merchant,
    )
    customer = await customer_with_points(gql, shop_a, "c1", 120)
    await save(
        gql,
        shop_a,
        key="nudge",
        channel="SMS",
        body="Hi {{ first_name }}, you have {{ points_balance }} points: "
        "{{ points_to_next_reward }} more for {{ next_reward }} at {{ shop_name }}",
    )
    await save(
        gql,
        shop_a,
        key="nudge",
        channel="EMAIL",
        subject="{{ first_name }}, {{ points_balance }} points",
        body="Hello {{ first_name }}",
        html="<p>Hello {{ first_name }}</p>",
    )

    sms = (
        await gql.run(
            PREVIEW, {"key": "nudge", "channel": "SMS", "customer": customer}, **shop_a.reader
        )
    )["previewMessage"]
    text = "Hi Zoë, you have 120 points: 80 more for £5 off at Shop A"
    assert sms == {
        "subject": None,
        "body": text,
        "html": None,
        # ë is outside GSM-7, so the whole text goes as UCS-2.
        "smsLength": {"encoding": "UCS-2", "characters": len(text), "segments": 1},
    }

    email = (
        await gql.run(
            PREVIEW, {"key": "nudge", "channel": "EMAIL", "customer": customer}, **shop_a.reader
        )
    )["previewMessage"]
    assert email["subject"] == "Zoë, 120 points"
    # A marketing email is previewed as it goes: with its unsubscribe link.
    assert email["body"].startswith("Hello Zoë\n\nUnsubscribe: http")
    # A placeholder link: a preview must never be able to unsubscribe the customer.
    assert "/unsubscribe?token=preview" in email["body"]
    assert email["html"].startswith("<p>Hello Zoë</p><p><a href=") and email["smsLength"] is None


async def test_sms_length_160_vs_161_and_emoji(gql, shop_a):
    customer = await customer_with_points(gql, shop_a, "c1", 10)

    async def length(body: str) -> dict:
        saved = await save(gql, shop_a, key="len", channel="SMS", body=body)
        assert saved["userErrors"] == []
        previewed = await gql.run(
            PREVIEW, {"key": "len", "channel": "SMS", "customer": customer}, **shop_a.reader
        )
        assert previewed["previewMessage"]["smsLength"] == {
            k: saved["template"]["smsLength"][k] for k in ("encoding", "characters", "segments")
        }
        return saved["template"]["smsLength"]

    assert await length("a" * 160) == {
        "encoding": "GSM-7", "characters": 160, "units": 160, "segments": 1, "perSegment": 160
    }  # fmt: skip
    assert await length("a" * 161) == {
        "encoding": "GSM-7", "characters": 161, "units": 161, "segments": 2, "perSegment": 153
    }  # fmt: skip
    emoji = await length("Thanks 🎉")
    assert emoji["encoding"] == "UCS-2" and emoji["segments"] == 1 and emoji["perSegment"] == 70
    assert emoji["units"] == 9  # the emoji is a surrogate pair
    long_emoji = await length("🎉" + "a" * 69)
    assert long_emoji["encoding"] == "UCS-2" and long_emoji["segments"] == 2


async def test_preview_is_tenant_scoped(gql, shop_a, shop_b):
    customer_a = await customer_with_points(gql, shop_a, "c1", 10)
    await save(gql, shop_a, key="hello", channel="SMS", body="Hi {{ first_name }}")
    await save(gql, shop_b, key="hello", channel="SMS", body="Hi from B {{ first_name }}")

    own = await gql.run(
        PREVIEW, {"key": "hello", "channel": "SMS", "customer": customer_a}, **shop_a.reader
    )
    assert own["previewMessage"]["body"] == "Hi "

    response = await gql.post(
        PREVIEW, {"key": "hello", "channel": "SMS", "customer": customer_a}, **shop_b.reader
    )
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "NOT_FOUND" and error["message"] == "customer not found"

    missing = (
        await gql.post(
            PREVIEW, {"key": "nope", "channel": "SMS", "customer": customer_a}, **shop_a.reader
        )
    ).json()
    assert missing["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_guards(gql, shop_a):
    response = await gql.post(
        SAVE, {"input": {"key": "k", "channel": "SMS", "body": "Hi"}}, **shop_a.reader
    )
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await MessageTemplate.filter(shop_id=shop_a.shop.id).count() == 0

    shopper = await gql.post(LIST, **shop_a.shopper("c1"))
    assert shopper.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    anonymous = await gql.post(LIST)
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_field_limits_are_user_errors(gql, shop_a):
    result = await save(gql, shop_a, key="k" * 65, channel="SMS", body="Hi")
    assert result["userErrors"] == [
        {"field": ["input", "key"], "message": "at most 64 characters", "code": "INVALID"}
    ]
