"""The `loyalty` command: run the service, its workers and scheduler, and admin tasks.

Expected failures (bad input, unknown shop, unreachable database) print one line
and exit 1; argparse usage errors exit 2; only bugs show a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import signal
import sqlite3
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

import asyncpg
from rich.console import Console
from rich.progress import track
from tortoise.exceptions import BaseORMException

from loyalty import db
from loyalty.config import Settings, get_settings
from loyalty.errors import DomainError

T = TypeVar("T")
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


class CliError(Exception):
    """An expected failure, reported as one line without a traceback."""


# ---------------------------------------------------------------- helpers


def display_url(url: str) -> str:
    """A database or broker URL without its password, for printing."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


DB_ERRORS = (BaseORMException, asyncpg.PostgresError, sqlite3.Error, OSError)


def _check_sqlite_folder(database_url: str) -> None:
    """aiosqlite hangs, rather than fails, when the file's folder is missing; say so."""
    if not database_url.startswith("sqlite://"):
        return
    path = database_url.removeprefix("sqlite://").partition("?")[0]
    folder = os.path.dirname(path)
    if path != ":memory:" and folder and not os.path.isdir(folder):
        raise CliError(f"DATABASE_URL points into {folder}, which does not exist")


def _run(settings: Settings, work: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine, turning database trouble into a CliError."""
    try:
        _check_sqlite_folder(settings.database_url)
    except CliError:
        work.close()
        raise
    try:
        return asyncio.run(work)
    except DB_ERRORS as exc:
        raise CliError(
            f"database {display_url(settings.database_url)}: {exc} "
            "(check DATABASE_URL; a new database needs `loyalty migrate`)"
        ) from exc


def _run_db(settings: Settings, work: Callable[[], Awaitable[T]]) -> T:
    """Run `work` with the database open."""

    async def wrapped() -> T:
        await db.init(settings.database_url)
        try:
            return await work()
        finally:
            await db.close()

    return _run(settings, wrapped())


async def _shop(public_id: str) -> Any:
    from loyalty.shops.models import Shop

    shop = await Shop.get_or_none(public_id=public_id)
    if shop is None:
        raise CliError(f"no shop with public id {public_id!r} (see `loyalty shops create`)")
    return shop


def _value(label: str, value: str) -> None:
    """A secret or id on its own line, never wrapped, so it copies cleanly."""
    out.print(f"[bold]{label}[/bold]")
    out.print(f"  {value}", markup=False, soft_wrap=True)


def _broker_settings() -> Settings:
    settings = get_settings()
    if not settings.broker_url:
        raise CliError(
            "BROKER_URL is not set; without it `loyalty serve` runs the worker and "
            "scheduler itself. Set BROKER_URL=redis://... (or amqp://...) to run them apart."
        )
    return settings


def _schedule() -> list[Any]:
    from loyalty.workers.scheduler import schedule_from_env

    try:
        return schedule_from_env()
    except ValueError as exc:
        raise CliError(str(exc)) from exc


def _production_broker() -> Any:
    """Import the broker (and every actor) for BROKER_URL; a bad URL is a CliError."""
    from loyalty.workers import BrokerConfigError, load_actors

    try:
        from loyalty.workers.broker import broker

        load_actors()
    except BrokerConfigError as exc:
        raise CliError(str(exc)) from exc
    return broker


# ---------------------------------------------------------------- serve


async def prepare(settings: Settings, *, migrate: bool, demo: bool, seed_if_empty: bool) -> Any:
    """Migrate (unless told not to), then seed the demo shop when asked or on a first
    embedded start. Returns the demo credentials to print, or None."""
    from loyalty.demo import ensure_demo

    if migrate:
        await _migrate(settings.database_url)
    if not (demo or seed_if_empty):
        return None
    await db.init(settings.database_url)
    try:
        return await ensure_demo(force=demo)
    finally:
        await db.close()


def _print_banner(settings: Settings, url: str, embedded: bool, demo: Any) -> None:
    mode = (
        "embedded: in-process worker and scheduler"
        if embedded
        else f"broker {display_url(settings.broker_url or '')}"
    )
    out.print(f"[bold green]Loyalty[/] on {display_url(settings.database_url)} ({mode})")
    if settings.production:
        out.print(f"API: {url} (production mode: GraphiQL and introspection are off)")
    else:
        out.print(f"GraphiQL: [link={url}]{url}[/link]")
    if demo is None:
        return
    shop = demo.shop
    verb = "Created" if demo.created else "Using"
    out.print(f"\n{verb} demo shop [bold]{shop.name}[/] (public id {shop.public_id}).")
    out.print("Paste one of these into GraphiQL's [bold]Headers[/] tab:")
    _value("Merchant (admin fields, scopes read+write):", f'{{"X-Api-Key": "{demo.api_key}"}}')
    hours = int(demo.token_ttl.total_seconds() // 3600)
    _value(
        f"Shopper (customer {demo.customer_external_id}, valid {hours} h):",
        f'{{"Authorization": "Bearer {demo.customer_token}"}}',
    )
    _value(
        "Or from a shell:",
        f"curl -s {url} -H 'X-Api-Key: {demo.api_key}' -H 'Content-Type: application/json' "
        '-d \'{"query": "{ __typename }"}\'',
    )
    out.print("[dim]The API key is shown only now; a new one is issued on each --demo start.[/]")


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from loyalty.web import create_app

    settings = get_settings()
    if args.production:
        settings = dataclasses.replace(settings, production=True)
    if settings.production and settings.secret_key == Settings.secret_key:
        raise CliError(
            "LOYALTY_SECRET_KEY must be set in production mode: it signs the consent and "
            "unsubscribe links, and the development default is public"
        )
    embedded = settings.broker_url is None
    schedule = _schedule() if embedded else []
    seed = embedded and not settings.production
    demo = _run(
        settings,
        prepare(settings, migrate=args.migrate, demo=args.demo, seed_if_empty=seed),
    )

    app = create_app(settings)
    if embedded:
        from loyalty.workers.broker import broker
        from loyalty.workers.embedded import EmbeddedWorkers, run_alongside

        app = run_alongside(app, EmbeddedWorkers(broker, schedule))
    shown_host = "127.0.0.1" if args.host in {"0.0.0.0", "::"} else args.host
    _print_banner(settings, f"http://{shown_host}:{args.port}/graphql", embedded, demo)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


# ---------------------------------------------------------------- migrate, worker, scheduler


async def _migrate(database_url: str) -> None:
    """Migrate and close: an open aiosqlite connection would keep the process alive."""
    try:
        await db.migrate(database_url)
    finally:
        await db.close()


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = get_settings()
    _run(settings, _migrate(settings.database_url))
    out.print(f"Database {display_url(settings.database_url)} is up to date.")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Exec Dramatiq's own CLI: it forks the processes, handles signals and restarts."""
    from loyalty.workers import ACTOR_MODULES

    _broker_settings()
    _production_broker()  # fail here, clearly, on a bad BROKER_URL
    argv = [sys.executable, "-m", "dramatiq", *ACTOR_MODULES]
    argv += ["--processes", str(args.processes), "--threads", str(args.threads)]
    out.print(f"exec {' '.join(argv[1:])}")
    sys.stdout.flush()
    os.execv(sys.executable, argv)
    return 0  # not reached


def cmd_scheduler(args: argparse.Namespace) -> int:
    from loyalty.workers.scheduler import Scheduler

    settings = _broker_settings()
    broker = _production_broker()
    scheduler = Scheduler(broker, _schedule())
    if args.once:
        sent = scheduler.tick()
        for entry in sent:
            out.print(f"enqueued {entry.actor_name}")
        return 0 if len(sent) == len(scheduler.entries) else 1
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    out.print(f"Scheduler on {display_url(settings.broker_url or '')}:")
    for entry in scheduler.entries:
        out.print(f"  {entry.actor_name} every {timedelta(seconds=entry.every_seconds)}")
    scheduler.run(stop)
    return 0


# ---------------------------------------------------------------- shops, keys, tokens


def cmd_shops_create(args: argparse.Namespace) -> int:
    from loyalty.shops.service import create_shop

    shop = _run_db(get_settings(), lambda: create_shop(args.name, args.currency))
    out.print(f"Created shop [bold]{shop.name}[/] ({shop.currency}).")
    _value("Public id (the `iss` of shopper tokens):", shop.public_id)
    _value("Storefront secret (signs shopper tokens; keep it server-side):", shop.storefront_secret)
    return 0


def cmd_keys_create(args: argparse.Namespace) -> int:
    from loyalty.shops.service import create_api_key

    scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]

    async def work() -> Any:
        return await create_api_key(await _shop(args.shop), args.name, scopes)

    issued = _run_db(get_settings(), work)
    scopes_text = ", ".join(issued.record.scopes)
    out.print(f"Created API key [bold]{issued.record.name}[/] with scopes {scopes_text}.")
    _value("Send it as the X-Api-Key header; it is shown only now:", issued.secret)
    return 0


def cmd_tokens_mint(args: argparse.Namespace) -> int:
    from loyalty.shops.service import TOKEN_MAX_LIFETIME, mint_customer_token

    ttl = timedelta(minutes=args.ttl_minutes)
    if not timedelta(0) < ttl <= TOKEN_MAX_LIFETIME:
        raise CliError("--ttl-minutes must be between 1 and 1440 (24 hours)")

    async def work() -> str:
        return mint_customer_token(await _shop(args.shop), args.customer, ttl)

    token = _run_db(get_settings(), work)
    _value(f"Shopper token for customer {args.customer}, valid {args.ttl_minutes} min:", token)
    _value("Send it as:", f"Authorization: Bearer {token}")
    return 0


# ---------------------------------------------------------------- check-balances


def cmd_check_balances(args: argparse.Namespace) -> int:
    from loyalty.customers.models import Customer
    from loyalty.programme.ledger import check_balance

    async def work() -> tuple[int, list[tuple[Any, Any]]]:
        customers = Customer.all()
        if args.shop:
            customers = customers.filter(shop_id=(await _shop(args.shop)).id)
        rows = await customers.order_by("id").values_list("id", "shop__public_id")
        bad = []
        for customer_id, shop_public_id in track(
            rows, description="Checking balances", console=err, transient=True
        ):
            check = await check_balance(customer_id)
            if not check.ok:
                bad.append(((shop_public_id, customer_id), check))
        return len(rows), bad

    checked, bad = _run_db(get_settings(), work)
    if not bad:
        out.print(f"[green]OK[/]: {checked} customers, every cached balance equals its ledger.")
        return 0
    for (shop_public_id, customer_id), check in bad:
        out.print(
            f"shop {shop_public_id} customer {customer_id}: "
            f"cached {check.cached_points} (pending {check.cached_pending}), "
            f"ledger {check.ledger_points} (pending {check.ledger_pending})",
            markup=False,
            soft_wrap=True,
        )
    err.print(f"[red]MISMATCH[/]: {len(bad)} of {checked} customers")
    return 1


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loyalty",
        description="Self-hostable loyalty programme for UK shops.",
        epilog="Settings come from the environment: DATABASE_URL, BROKER_URL, "
        "LOYALTY_PRODUCTION, LOYALTY_SECRET_KEY (see README).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the API (and, embedded, worker+scheduler)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--demo", action="store_true", help="seed a demo shop, print credentials")
    serve.add_argument("--production", action="store_true", help="no GraphiQL, no introspection")
    serve.add_argument(
        "--no-migrate",
        dest="migrate",
        action="store_false",
        help="skip migrating on start (run `loyalty migrate` once per release instead)",
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    serve.set_defaults(handler=cmd_serve)

    commands.add_parser("migrate", help="bring the database schema up to date").set_defaults(
        handler=cmd_migrate
    )

    worker = commands.add_parser("worker", help="run Dramatiq workers against BROKER_URL")
    worker.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    worker.add_argument("--threads", type=int, default=4)
    worker.set_defaults(handler=cmd_worker)

    scheduler = commands.add_parser("scheduler", help="enqueue the scheduled jobs (run one)")
    scheduler.add_argument("--once", action="store_true", help="enqueue every job now, then exit")
    scheduler.set_defaults(handler=cmd_scheduler)

    shops = commands.add_parser("shops", help="manage shops").add_subparsers(
        dest="shops_command", required=True, metavar="ACTION"
    )
    create = shops.add_parser("create", help="create a shop")
    create.add_argument("name")
    create.add_argument("--currency", default="GBP")
    create.set_defaults(handler=cmd_shops_create)

    keys = commands.add_parser("keys", help="manage merchant API keys").add_subparsers(
        dest="keys_command", required=True, metavar="ACTION"
    )
    key = keys.add_parser("create", help="issue an API key (shown once)")
    key.add_argument("shop", metavar="SHOP_PUBLIC_ID")
    key.add_argument("--name", default="cli")
    key.add_argument("--scopes", default="read,write", help="comma-separated: read,write")
    key.set_defaults(handler=cmd_keys_create)

    tokens = commands.add_parser("tokens", help="shopper tokens for trying things out")
    mint = tokens.add_subparsers(dest="tokens_command", required=True, metavar="ACTION")
    token = mint.add_parser("mint", help="mint a shopper token as a shop's backend would")
    token.add_argument("shop", metavar="SHOP_PUBLIC_ID")
    token.add_argument("customer", metavar="CUSTOMER_ID", help="the shop's id for the customer")
    token.add_argument("--ttl-minutes", type=int, default=60)
    token.set_defaults(handler=cmd_tokens_mint)

    check = commands.add_parser(
        "check-balances", help="prove every cached balance equals its ledger sum"
    )
    check.add_argument("shop", nargs="?", metavar="SHOP_PUBLIC_ID", help="only this shop")
    check.set_defaults(handler=cmd_check_balances)

    from loyalty.imports.cli import register as register_imports
    from loyalty.integrations.cli import register as register_integrations

    register_imports(commands)
    register_integrations(commands)
    return parser


def _fail(message: str) -> int:
    err.print("[red]error:[/] ", end="")
    err.print(message, markup=False, soft_wrap=True)
    return 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except CliError as exc:
        return _fail(str(exc))
    except DomainError as exc:
        return _fail(exc.message + (f" ({exc.field})" if exc.field else ""))
    except KeyboardInterrupt:
        return 130
