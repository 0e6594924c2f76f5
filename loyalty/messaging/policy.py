"""The sending policy, applied at send time, in one place: `decide(message, now)`.

Checks run in this order; the first that applies wins:

1. **Suppression** (every purpose): an address on the shop's suppression list for the
   channel (invalid number, repeated carrier failures, manual) is skipped,
   reason `suppressed:<why>`.
2. **Consent** (`consent.service.can_send`, read fresh from the database, so an
   unsubscribe while the message waited in the queue wins): skipped, reason
   `consent:<can_send's reason>`. Marketing needs subscribed, transactional messages
   go unless that channel's transactional purpose was unsubscribed.
3. **Quiet hours** (marketing only: a transactional message such as the voucher code
   the shopper has just redeemed is expected at once): between `quiet_start` and
   `quiet_end` (default 21:00 to 08:00, across midnight when start > end, none when
   equal) in the customer's time zone (the shop's default, Europe/London, when unknown
   or invalid), the send is deferred to the next local `quiet_end`, reason
   `quiet_hours`. Wall-clock times go through zoneinfo, so clock changes are honoured.
   Deferral comes before smart sending so that the window is judged when the message
   really goes out.
4. **Smart sending** (marketing only): skipped when the customer was sent a marketing
   message on the same channel within the channel's window (default 16 h email,
   24 h SMS and WhatsApp), reason `smart_sending:<channel>:<hours>h`; and, when the
   shop sets `cross_channel_window_hours`, when they were sent one on any channel
   within it (a cap of one marketing message per window across channels), reason
   `smart_sending:all_channels:<hours>h`. A window of 0 turns the rule off. Sent means
   status sent, delivered or read with `sent_at` inside the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from loyalty.consent import service as consent
from loyalty.consent.models import Channel, Purpose
from loyalty.customers.models import Customer
from loyalty.messaging.models import Message, MessageStatus, MessagingSettings, Suppression
from loyalty.messaging.send_errors import plain_address

DEFAULT_TIME_ZONE = "Europe/London"
QUIET_HOURS = "quiet_hours"
SENT_STATUSES = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)


@dataclass(frozen=True)
class Decision:
    """Send now, defer until `until`, or skip for good; `reason` says why."""

    action: Literal["send", "defer", "skip"]
    reason: str | None = None
    until: datetime | None = None

    @classmethod
    def send(cls) -> Decision:
        return cls("send")

    @classmethod
    def defer(cls, until: datetime, reason: str) -> Decision:
        return cls("defer", reason, until)

    @classmethod
    def skip(cls, reason: str) -> Decision:
        return cls("skip", reason)


async def settings_for(shop_id: int) -> MessagingSettings:
    """The shop's settings row, or the defaults (unsaved) when it has none."""
    found = await MessagingSettings.get_or_none(shop_id=shop_id)
    return found if found is not None else MessagingSettings(shop_id=shop_id)


def customer_zone(customer: Customer, settings: MessagingSettings) -> ZoneInfo:
    for name in (customer.time_zone, settings.default_time_zone, DEFAULT_TIME_ZONE):
        if not name:
            continue
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return ZoneInfo(DEFAULT_TIME_ZONE)


def _clock_time(value: str) -> time:
    hours, _, minutes = value.partition(":")
    return time(int(hours), int(minutes or 0))


def _local_at(day: date, at: time, zone: ZoneInfo) -> datetime:
    """`day` at wall-clock `at` in `zone`, moved forward if it falls in a clock gap."""
    naive = datetime.combine(day, at)
    aware = naive.replace(tzinfo=zone)
    # A time that does not exist (spring forward) comes back shifted after a round trip.
    return aware.astimezone(ZoneInfo("UTC")).astimezone(zone)


def quiet_until(now: datetime, zone: ZoneInfo, quiet_start: str, quiet_end: str) -> datetime | None:
    """The end of the quiet period `now` falls in (timezone-aware), or None when not quiet."""
    start, end = _clock_time(quiet_start), _clock_time(quiet_end)
    if start == end:
        return None
    local = now.astimezone(zone)
    at = local.time().replace(tzinfo=None)
    quiet = (at >= start or at < end) if start > end else (start <= at < end)
    if not quiet:
        return None
    until = _local_at(local.date(), end, zone)
    if until <= local:
        until = _local_at(local.date() + timedelta(days=1), end, zone)
    return until


def window_hours(settings: MessagingSettings, channel: Channel) -> int:
    return {
        Channel.EMAIL: settings.email_window_hours,
        Channel.SMS: settings.sms_window_hours,
        Channel.WHATSAPP: settings.whatsapp_window_hours,
    }[Channel(channel)]


async def _sent_within(message: Message, now: datetime, hours: int, *, any_channel: bool) -> bool:
    query = Message.filter(
        shop_id=message.shop_id,
        customer_id=message.customer_id,
        purpose=Purpose.MARKETING,
        status__in=SENT_STATUSES,
        sent_at__gt=now - timedelta(hours=hours),
    ).exclude(id=message.id)
    if not any_channel:
        query = query.filter(channel=message.channel)
    return await query.exists()


async def decide(
    message: Message,
    now: datetime,
    *,
    customer: Customer | None = None,
    settings: MessagingSettings | None = None,
) -> Decision:
    """What to do with `message` at `now`; reads consent and history fresh."""
    channel, purpose = Channel(message.channel), Purpose(message.purpose)
    if customer is None:
        customer = await Customer.get(id=message.customer_id, shop_id=message.shop_id)
    if settings is None:
        settings = await settings_for(message.shop_id)

    suppression = await Suppression.get_or_none(
        shop_id=message.shop_id, channel=channel, address=plain_address(message.to_address)
    )
    if suppression is not None:
        return Decision.skip(f"suppressed:{suppression.reason}")

    allowed = await consent.can_send(customer, channel, purpose)
    if not allowed.allowed:
        return Decision.skip(f"consent:{allowed.reason}")

    if purpose is not Purpose.MARKETING:
        return Decision.send()

    until = quiet_until(
        now, customer_zone(customer, settings), settings.quiet_start, settings.quiet_end
    )
    if until is not None:
        return Decision.defer(until.astimezone(now.tzinfo), QUIET_HOURS)

    hours = window_hours(settings, channel)
    if hours > 0 and await _sent_within(message, now, hours, any_channel=False):
        return Decision.skip(f"smart_sending:{channel.value}:{hours}h")
    cross = settings.cross_channel_window_hours
    if cross and cross > 0 and await _sent_within(message, now, cross, any_channel=True):
        return Decision.skip(f"smart_sending:all_channels:{cross}h")
    return Decision.send()
