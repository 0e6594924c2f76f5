"""`loyalty integrations set|list` and `loyalty webhooks replay|list`: call `register`
from build_parser.

Secrets never go on the command line (it ends up in shell history and `ps`): they are
read from environment variables named by options, or typed at a hidden prompt with
--prompt. Nothing prints a secret back, only whether it is set.
"""

from __future__ import annotations

import argparse
import getpass
import os
from dataclasses import dataclass
from typing import Any

from loyalty.integrations.models import DeliveryStatus, Integration, Platform


@dataclass(frozen=True)
class Secret:
    field: str  # Integration column
    label: str  # what the merchant calls it
    option: str  # the --...-env option naming its environment variable
    platforms: tuple[Platform, ...]


SECRETS = (
    Secret(
        "webhook_secret",
        "webhook secret",
        "webhook_secret_env",
        (Platform.SHOPIFY, Platform.WOOCOMMERCE, Platform.RECHARGE),
    ),
    Secret("api_token", "Shopify Admin API token", "api_token_env", (Platform.SHOPIFY,)),
    Secret("api_key", "WooCommerce consumer key", "consumer_key_env", (Platform.WOOCOMMERCE,)),
    Secret(
        "api_secret", "WooCommerce consumer secret", "consumer_secret_env", (Platform.WOOCOMMERCE,)
    ),
)
PLATFORMS = [p.value for p in Platform]
STATUSES = [s.value for s in DeliveryStatus]
DONE = (DeliveryStatus.PROCESSED, DeliveryStatus.IGNORED)


def _flag(secret: Secret) -> str:
    return "--" + secret.option.replace("_", "-")


# ---------------------------------------------------------------- parser


def register(commands: argparse._SubParsersAction) -> None:
    """Add the `integrations` (set, list) and `webhooks` (replay, list) command groups."""
    integrations = commands.add_parser(
        "integrations", help="connect shops to Shopify, WooCommerce or Recharge"
    ).add_subparsers(dest="integrations_command", required=True, metavar="ACTION")

    set_ = integrations.add_parser(
        "set",
        help="create or update a shop's platform connection",
        description="Create or update a platform connection. Secrets are never taken as "
        "arguments (shell history): name an environment variable holding each one, or use "
        "--prompt to type them hidden. Anything not given keeps its current value.",
    )
    set_.add_argument("shop", metavar="SHOP_PUBLIC_ID")
    set_.add_argument("platform", choices=PLATFORMS, metavar="PLATFORM", help=", ".join(PLATFORMS))
    set_.add_argument(
        "--address", help="Shopify *.myshopify.com domain, or WooCommerce https:// site URL"
    )
    for secret in SECRETS:
        only = "" if len(secret.platforms) > 1 else f" ({secret.platforms[0].value})"
        set_.add_argument(
            _flag(secret),
            dest=secret.option,
            metavar="VAR",
            help=f"environment variable holding the {secret.label}{only}",
        )
    set_.add_argument(
        "--prompt",
        action="store_true",
        help="ask (hidden) for each secret not given by an environment variable; "
        "an empty answer keeps the current value",
    )
    set_.set_defaults(handler=cmd_integrations_set)

    listing = integrations.add_parser("list", help="a shop's connections (secrets: set or not)")
    listing.add_argument("shop", metavar="SHOP_PUBLIC_ID")
    listing.set_defaults(handler=cmd_integrations_list)

    webhooks = commands.add_parser(
        "webhooks", help="inspect stored webhook deliveries, replay failed ones"
    ).add_subparsers(dest="webhooks_command", required=True, metavar="ACTION")

    replay = webhooks.add_parser(
        "replay",
        help="process failed deliveries again",
        description="Process FAILED deliveries again: all of them, one shop's, or the given "
        "ids. Exit 0 when every one is now processed (or ignored), 1 otherwise.",
    )
    replay.add_argument("shop", nargs="?", metavar="SHOP_PUBLIC_ID", help="only this shop")
    replay.add_argument(
        "--id",
        dest="ids",
        type=int,
        action="append",
        metavar="N",
        help="only this delivery (repeat for more); see `loyalty webhooks list`",
    )
    replay.set_defaults(handler=cmd_webhooks_replay)

    deliveries = webhooks.add_parser("list", help="stored deliveries, newest first")
    deliveries.add_argument("shop", nargs="?", metavar="SHOP_PUBLIC_ID", help="only this shop")
    deliveries.add_argument("--status", choices=STATUSES)
    deliveries.add_argument("--limit", type=int, default=50, help="at most this many (50)")
    deliveries.set_defaults(handler=cmd_webhooks_list)


# ---------------------------------------------------------------- integrations


def _secret_changes(args: argparse.Namespace, platform: Platform) -> dict[str, str]:
    from loyalty.cli import CliError

    changes: dict[str, str] = {}
    for secret in SECRETS:
        var = getattr(args, secret.option)
        if var is None:
            continue
        if platform not in secret.platforms:
            raise CliError(
                f"{_flag(secret)} is for {', '.join(p.value for p in secret.platforms)}, "
                f"not {platform.value}"
            )
        value = os.environ.get(var, "").strip()
        if not value:
            raise CliError(f"environment variable {var} (from {_flag(secret)}) is empty or unset")
        changes[secret.field] = value
    if args.prompt:
        for secret in SECRETS:
            if platform in secret.platforms and secret.field not in changes:
                value = getpass.getpass(f"{secret.label} (empty keeps the current one): ").strip()
                if value:
                    changes[secret.field] = value
    return changes


def _show(integration: Integration, shop_public_id: str) -> None:
    from loyalty.cli import out

    platform = Platform(integration.platform)
    out.print(f"[bold]{platform.value}[/]")
    out.print(f"  address: {integration.address or '(not set)'}", markup=False, soft_wrap=True)
    for secret in SECRETS:
        if platform in secret.platforms:
            state = "set" if getattr(integration, secret.field) else "not set"
            out.print(f"  {secret.label}: {state}", markup=False)
    out.print(f"  webhook URL path: /webhooks/{platform.value}/{shop_public_id}", markup=False)


def cmd_integrations_set(args: argparse.Namespace) -> int:
    from loyalty.cli import CliError, _run_db, _shop, out
    from loyalty.config import get_settings
    from loyalty.errors import DomainError
    from loyalty.integrations.settings import configure

    platform = Platform(args.platform)
    changes: dict[str, Any] = _secret_changes(args, platform)
    if args.address is not None:
        changes["address"] = args.address

    async def work() -> Integration:
        shop = await _shop(args.shop)
        try:
            return await configure(shop.id, platform, changes)
        except DomainError as exc:
            raise CliError(exc.message + (f" ({exc.field})" if exc.field else "")) from exc

    integration = _run_db(get_settings(), work)
    out.print(f"Saved the {platform.value} connection of shop {args.shop}.", markup=False)
    _show(integration, args.shop)
    out.print("[dim]Point the platform's webhooks at this path on your server's address.[/]")
    return 0


def cmd_integrations_list(args: argparse.Namespace) -> int:
    from loyalty.cli import _run_db, _shop, out
    from loyalty.config import get_settings

    async def work() -> list[Integration]:
        shop = await _shop(args.shop)
        return await Integration.filter(shop_id=shop.id).order_by("platform")

    rows = _run_db(get_settings(), work)
    if not rows:
        out.print(
            f"Shop {args.shop} has no connections (add one with `loyalty integrations set`).",
            markup=False,
        )
        return 0
    for integration in rows:
        _show(integration, args.shop)
    return 0


# ---------------------------------------------------------------- webhooks


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


@dataclass
class Outcome:
    id: int
    topic: str
    status: DeliveryStatus | None  # None: no such delivery
    error: str | None = None
    replayed: bool = True


def cmd_webhooks_replay(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from loyalty.cli import _run_db, _shop, err, out
    from loyalty.config import get_settings
    from loyalty.integrations import webhooks
    from loyalty.integrations.models import WebhookDelivery

    def report(outcome: Outcome) -> None:
        if outcome.status is None:
            line = f"{outcome.id}: no such delivery"
        elif not outcome.replayed:
            line = (
                f"{outcome.id} {outcome.topic}: skipped, it is {outcome.status.value} (not failed)"
            )
        else:
            line = f"{outcome.id} {outcome.topic} → {outcome.status.value}"
            if outcome.status not in DONE and outcome.error:
                line += f" ({_one_line(outcome.error)})"
        out.print(line, markup=False, soft_wrap=True)

    async def work() -> list[Outcome]:
        query = WebhookDelivery.all()
        if args.shop:
            query = query.filter(shop_id=(await _shop(args.shop)).id)
        outcomes: list[Outcome] = []
        if args.ids:
            wanted = sorted(set(args.ids))
            found = dict(await query.filter(id__in=wanted).values_list("id", "status"))
            for delivery_id in wanted:
                status = found.get(delivery_id)
                if status is None:
                    outcomes.append(Outcome(delivery_id, "", None))
                elif DeliveryStatus(status) != DeliveryStatus.FAILED:
                    topic = (await WebhookDelivery.get(id=delivery_id)).topic
                    outcomes.append(
                        Outcome(delivery_id, topic, DeliveryStatus(status), None, False)
                    )
            for outcome in outcomes:
                report(outcome)
            query = query.filter(id__in=wanted)
        rows = (
            await query.filter(status=DeliveryStatus.FAILED)
            .order_by("id")
            .values_list("id", "topic")
        )
        progress = Progress(
            TextColumn("Replaying deliveries"),
            BarColumn(),
            MofNCompleteColumn(),
            console=err,
            transient=True,
        )
        task = progress.add_task("replay", total=len(rows))
        with progress:
            for delivery_id, topic in rows:
                try:
                    await webhooks.process(delivery_id)
                except Exception as exc:  # process stored FAILED with the error before raising
                    error: str | None = f"{type(exc).__name__}: {exc}"
                else:
                    error = None
                delivery = await WebhookDelivery.get(id=delivery_id)
                outcome = Outcome(
                    delivery_id, topic, DeliveryStatus(delivery.status), delivery.error or error
                )
                report(outcome)
                outcomes.append(outcome)
                progress.advance(task)
        return outcomes

    outcomes = _run_db(get_settings(), work)
    replayed = [o for o in outcomes if o.replayed and o.status is not None]
    missing = [o for o in outcomes if o.status is None]
    if not replayed and not missing:
        out.print("No failed deliveries to replay.")
        return 0
    counts: dict[str, int] = {}
    for outcome in replayed:
        assert outcome.status is not None
        counts[outcome.status.value] = counts.get(outcome.status.value, 0) + 1
    parts = [f"{n} {status}" for status, n in sorted(counts.items())]
    if missing:
        parts.append(f"{len(missing)} not found")
    ok = not missing and all(o.status in DONE for o in replayed)
    style = "green" if ok else "red"
    out.print(f"[{style}]Replayed {len(replayed)} deliveries[/]: {', '.join(parts) or 'none'}")
    return 0 if ok else 1


def cmd_webhooks_list(args: argparse.Namespace) -> int:
    from loyalty.cli import CliError, _run_db, _shop, out
    from loyalty.config import get_settings
    from loyalty.integrations.models import WebhookDelivery

    if args.limit < 1:
        raise CliError("--limit must be at least 1")

    async def work() -> tuple[int, list[Any]]:
        query = WebhookDelivery.all()
        if args.shop:
            query = query.filter(shop_id=(await _shop(args.shop)).id)
        if args.status:
            query = query.filter(status=DeliveryStatus(args.status))
        total = await query.count()
        rows = await query.order_by("-id").limit(args.limit).prefetch_related("shop")
        return total, rows

    total, rows = _run_db(get_settings(), work)
    if not rows:
        status = f"{args.status} " if args.status else ""
        out.print(f"No {status}deliveries.", markup=False)
        return 0
    shop_column = not args.shop
    header = f"{'id':>6}  "
    if shop_column:
        header += f"{'shop':<22}  "
    header += f"{'platform':<11}  {'topic':<24}  {'status':<9}  {'tries':>5}  "
    header += f"{'received (UTC)':<19}  error"
    out.print(header, markup=False, soft_wrap=True, style="bold")
    for row in rows:
        line = f"{row.id:>6}  "
        if shop_column:
            line += f"{row.shop.public_id:<22}  "
        received = row.received_at.strftime("%Y-%m-%d %H:%M:%S") if row.received_at else ""
        line += (
            f"{Platform(row.platform).value:<11}  {row.topic:<24}  "
            f"{DeliveryStatus(row.status).value:<9}  {row.attempts:>5}  {received:<19}  "
            f"{_one_line(row.error)}"
        )
        out.print(line.rstrip(), markup=False, soft_wrap=True)
    if total > len(rows):
        out.print(f"[dim]{len(rows)} of {total} shown, newest first (see --limit).[/]")
    return 0
