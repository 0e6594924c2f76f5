"""`loyalty import orders|members SHOP_PUBLIC_ID FILE`: call `register` from build_parser.

Progress goes to stderr; the failures ("line N: reason") and the summary to stdout.
Exit code 0 when no row failed, 1 when some did (the rest are imported all the same).
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from loyalty.imports.readers import FORMATS, ImportFileError, count_rows
from loyalty.imports.runner import DEFAULT_BATCH_SIZE, ImportReport, checkpoint_path


def register(commands: argparse._SubParsersAction) -> None:
    """Add the `import` command group with its `orders` and `members` subcommands."""
    group = commands.add_parser(
        "import", help="bulk-import historic orders or members from another loyalty app"
    ).add_subparsers(dest="import_command", required=True, metavar="WHAT")

    orders = group.add_parser(
        "orders",
        help="historic orders (CSV or JSON lines): profiles, spend and tiers",
        description="Import historic orders. They feed profiles, spend and tiers; they "
        "award points only with --award-points. Orders already present are skipped.",
    )
    _common(orders)
    orders.add_argument(
        "--award-points",
        action="store_true",
        help="award points (and sign-up/referral rewards) as if the orders were live",
    )
    orders.set_defaults(handler=cmd_import_orders)

    members = group.add_parser(
        "members",
        help="members from a LoyaltyLion or Smile.io export: email, points, tier",
        description="Import members: one IMPORT ledger entry per member with their points "
        "balance, and their tier by name. Members imported before are skipped.",
    )
    _common(members)
    members.add_argument(
        "--include-pending",
        action="store_true",
        help="add pending points (LoyaltyLion points_pending) to the imported balance",
    )
    members.set_defaults(handler=cmd_import_members)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shop", metavar="SHOP_PUBLIC_ID")
    parser.add_argument("file", metavar="FILE", type=Path)
    parser.add_argument(
        "--format", dest="fmt", choices=FORMATS, help="default: from the file's extension"
    )
    parser.add_argument(
        "--no-resume",
        dest="resume",
        action="store_false",
        help="start from the top even if a checkpoint of an interrupted run exists",
    )
    parser.add_argument(
        "--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="rows per transaction"
    )


def cmd_import_orders(args: argparse.Namespace) -> int:
    from loyalty.imports.orders import import_orders

    return _run(
        args,
        "orders",
        lambda shop, progress: import_orders(
            shop,
            args.file,
            award_points=args.award_points,
            fmt=args.fmt,
            resume=args.resume,
            batch_size=args.batch_size,
            on_progress=progress,
        ),
    )


def cmd_import_members(args: argparse.Namespace) -> int:
    from loyalty.imports.members import import_members

    return _run(
        args,
        "members",
        lambda shop, progress: import_members(
            shop,
            args.file,
            include_pending=args.include_pending,
            fmt=args.fmt,
            resume=args.resume,
            batch_size=args.batch_size,
            on_progress=progress,
        ),
    )


def _run(
    args: argparse.Namespace,
    what: str,
    start: Callable[[Any, Callable[[int], None]], Awaitable[ImportReport]],
) -> int:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from loyalty.cli import CliError, _run_db, _shop, err, out
    from loyalty.config import get_settings

    if args.batch_size < 1:
        raise CliError("--batch-size must be at least 1")
    path: Path = args.file
    if not path.is_file():
        raise CliError(f"no such file: {path}")
    try:
        total = count_rows(path, args.fmt)
    except ImportFileError as exc:
        raise CliError(f"{path}: {exc}") from exc
    if args.resume and checkpoint_path(path).exists():
        err.print(f"A checkpoint exists ({checkpoint_path(path).name}): resuming if it matches.")

    progress = Progress(
        TextColumn(f"Importing {what}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )
    task = progress.add_task(what, total=total)

    async def work() -> ImportReport:
        shop = await _shop(args.shop)
        with progress:
            return await start(shop, lambda n: progress.advance(task, n))

    try:
        report = _run_db(get_settings(), work)
    except ImportFileError as exc:
        raise CliError(f"{path}: {exc} (rows before it are imported; fix and run again)") from exc
    if report.resumed_from_line is not None:
        out.print(f"Resumed after line {report.resumed_from_line}.")
    for failure in report.failures:
        out.print(str(failure), markup=False, highlight=False)
    style = "green" if report.ok else "red"
    out.print(f"[{style}]{what.capitalize()}[/]: ", end="")
    out.print(report.summary(), markup=False)
    return 0 if report.ok else 1
