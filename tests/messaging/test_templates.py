"""Merchant templates: sandboxed rendering, personalisation, validation, SMS segments."""

from __future__ import annotations

import pytest

from loyalty.consent.models import Channel, Purpose
from loyalty.customers.models import Customer
from loyalty.messaging import service
from loyalty.messaging.models import MessageTemplate, MessagingSettings
from loyalty.messaging.providers import ProviderSettings, build_channels
from loyalty.messaging.templates import (
    TemplateError,
    personalisation,
    preview_sms,
    render,
    validate_template,
)
from loyalty.programme.models import Reward, RewardKind, Tier
from tests.messaging.conftest import LINKS, make_customer


async def test_personalisation_values(shop):
    customer = await make_customer(shop, first_name="Priya")
    silver = await Tier.create(shop=shop, name="Silver", threshold=0)
    await Customer.filter(id=customer.id).update(points_balance=430, tier_id=silver.id)
    await customer.refresh_from_db()
    await Reward.create(shop=shop, name="Tote", kind=RewardKind.FREE_PRODUCT, points_cost=900)
    await Reward.create(shop=shop, name="£5 off", kind=RewardKind.FIXED_AMOUNT, points_cost=500)
    await Reward.create(
        shop=shop, name="Old", kind=RewardKind.FIXED_AMOUNT, points_cost=100, archived=True
    )

    values = await personalisation(customer, voucher_code="LOY-1234")

    assert values == {
        "first_name": "Priya",
        "last_name": "",
        "shop_name": "Corner Shop",
        "points_balance": 430,
        "tier": "Silver",
        "points_to_next_reward": 70,
        "next_reward": "£5 off",
        "voucher_code": "LOY-1234",
    }
    await Customer.filter(id=customer.id).update(points_balance=650)
    await customer.refresh_from_db()
    assert (await personalisation(customer))["points_to_next_reward"] == 0  # floored


async def test_personalisation_without_tier_or_rewards(shop):
    customer = await make_customer(shop, first_name=None)
    values = await personalisation(customer)

    assert (values["first_name"], values["tier"], values["points_to_next_reward"]) == ("", "", None)
    assert render("Hi {{ first_name }}{{ voucher_code }}!", values) == "Hi !"


async def test_queue_renders_a_template_with_personalisation(shop):
    customer = await make_customer(shop, first_name="Tom")
    await Reward.create(shop=shop, name="Mug", kind=RewardKind.FREE_PRODUCT, points_cost=300)
    await service.save_template(
        shop.id,
        "nudge",
        Channel.SMS,
        body="{{ shop_name }}: hi {{ first_name }}, {{ points_to_next_reward }} points to a "
        "{{ next_reward }}{% if deadline %} by {{ deadline }}{% endif %}",
        extra_variables=["deadline"],
    )

    message = await service.queue_message(
        customer,
        Channel.SMS,
        Purpose.MARKETING,
        template_key="nudge",
        context={"deadline": "Sunday"},
        link_settings=LINKS,
    )

    assert message.body == "Corner Shop: hi Tom, 300 points to a Mug by Sunday"
    assert message.template_id is not None and message.to_address == "+447911123456"


def test_html_is_escaped_and_text_is_not():
    values = {"first_name": "<script>x</script> & Co"}
    assert render("Hi {{ first_name }}", values) == "Hi <script>x</script> & Co"
    assert render("<p>Hi {{ first_name }}</p>", values, html=True) == (
        "<p>Hi &lt;script&gt;x&lt;/script&gt; &amp; Co</p>"
    )


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ lipsum.__globals__['os'].system('id') }}",
        "{{ cycler.__init__.__globals__ }}",
        "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    ],
)
def test_sandbox_escape_is_refused(source):
    with pytest.raises(TemplateError) as refused:
        render(source, {})
    assert refused.value.code == "TEMPLATE_UNSAFE"
    assert "unsafe" in refused.value.message


def test_sandbox_refuses_unsafe_attribute_with_a_clear_code():
    with pytest.raises(TemplateError) as refused:
        render("{{ first_name.__class__.__mro__ }}", {"first_name": "A"})
    assert refused.value.code == "TEMPLATE_UNSAFE"
    # str.format is the classic way around attribute checks; the sandbox wraps it.
    with pytest.raises(TemplateError) as unsafe:
        render("{{ '{0.__class__.__mro__}'.format(first_name) }}", {"first_name": "A"})
    assert unsafe.value.code == "TEMPLATE_UNSAFE"


def test_unknown_variable_at_render_is_an_error():
    with pytest.raises(TemplateError) as refused:
        render("Hi {{ frist_name }}", {"first_name": "A"})
    assert refused.value.code == "TEMPLATE_UNKNOWN_VARIABLE"
    assert "frist_name" in refused.value.message


def test_validation_names_the_line_of_an_unknown_variable():
    with pytest.raises(TemplateError) as refused:
        validate_template("Hi {{ first_name }},\n\nYou have {{ point_balance }} points")
    assert refused.value.line == 3
    assert refused.value.code == "TEMPLATE_UNKNOWN_VARIABLE"
    assert "line 3" in refused.value.message and "'point_balance'" in refused.value.message


def test_validation_names_the_line_of_a_syntax_error():
    with pytest.raises(TemplateError) as refused:
        validate_template("<p>Hello</p>\n\n<p>Hi {{ first_name }!</p>", field="html", html=True)
    assert refused.value.code == "TEMPLATE_SYNTAX"
    assert refused.value.field == "html"
    assert refused.value.message.startswith("html, line 3:")


def test_loop_and_set_variables_are_not_unknown():
    validate_template("{% set n = points_balance %}{% for x in [1] %}{{ x }}{{ n }}{% endfor %}")


async def test_saving_an_invalid_template_stores_nothing(shop):
    with pytest.raises(TemplateError) as refused:
        await service.save_template(
            shop.id, "bad", Channel.EMAIL, subject="Hi {{ nme }}", body="Fine"
        )
    assert refused.value.field == "subject"
    with pytest.raises(TemplateError):
        await service.save_template(
            shop.id, "wa", Channel.WHATSAPP, body="x", whatsapp_variables=["balance"]
        )
    assert await MessageTemplate.filter(shop_id=shop.id).count() == 0


async def test_saving_again_replaces_the_template(shop):
    await service.save_template(shop.id, "k", Channel.SMS, body="One")
    await service.save_template(shop.id, "k", Channel.SMS, body="Two {{ first_name }}")
    [template] = await MessageTemplate.filter(shop_id=shop.id)
    assert template.body == "Two {{ first_name }}"


def test_preview_sms_segments():
    short = preview_sms("Hi Alice, you have 250 points £")
    assert (short.encoding, short.segments, short.per_segment) == ("GSM-7", 1, 160)
    assert preview_sms("x" * 160).segments == 1
    long = preview_sms("x" * 161)
    assert (long.segments, long.per_segment) == (2, 153)
    unicode = preview_sms("Hi Zoë 🎉")
    assert (unicode.encoding, unicode.segments, unicode.per_segment) == ("UCS-2", 1, 70)
    assert preview_sms("ł" * 70).segments == 1
    assert preview_sms("ł" * 71).segments == 2
    assert preview_sms("€" * 80).units == 160  # extension characters cost two


async def test_channels_from_environment(shop):
    provider = ProviderSettings.from_env(
        {
            "TWILIO_ACCOUNT_SID": "AC1",
            "TWILIO_AUTH_TOKEN": "t",
            "TWILIO_MESSAGING_SERVICE_SID": "MG1",
            "SMTP_HOST": "mail.example",
            "SMTP_PORT": "2525",
            "SMTP_STARTTLS": "true",
            "EMAIL_FROM": "Shop <hi@shop.example>",
        }
    )
    assert "'t'" not in repr(provider)
    settings = MessagingSettings(shop_id=shop.id, whatsapp_from="+447700900999")
    import httpx

    async with httpx.AsyncClient() as http:
        channels = build_channels(provider, settings, http)
        assert set(channels) == {Channel.SMS, Channel.WHATSAPP, Channel.EMAIL}
        assert type(channels[Channel.EMAIL]).__name__ == "SmtpEmailChannel"
        assert repr(channels[Channel.EMAIL]) == "SmtpEmailChannel(host='mail.example', port=2525)"
        with_sendgrid = ProviderSettings.from_env(
            {"SENDGRID_API_KEY": "SG.x", "EMAIL_FROM": "a@b.c"}
        )
        assert type(build_channels(with_sendgrid, settings, http)[Channel.EMAIL]).__name__ == (
            "SendGridEmailChannel"
        )
        assert build_channels(ProviderSettings(), settings, http) == {}
