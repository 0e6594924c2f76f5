"""Run an import: batches, per-row savepoints, a resumable checkpoint and a report."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from loyalty.errors import DomainError
from loyalty.imports.readers import Row, detect_format, read_rows

CHECKPOINT_VERSION = 1
DEFAULT_BATCH_SIZE = 500


class RowError(Exception):
    """A row we refuse; `field` names the column so the merchant can fix the file."""

    def __init__(self, field: str | None, problem: str) -> None:
        super().__init__(f"{field}: {problem}" if field else problem)
        self.field = field
        self.problem = problem


class Outcome(StrEnum):
    IMPORTED = "imported"
    SKIPPED = "skipped"  # already present: a repeat run, or a row seen before


@dataclass(frozen=True)
class RowFailure:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ImportReport:
    """What a run did. Counts cover the whole file, resumed parts included."""

    kind: str
    path: str
    read: int = 0
    imported: int = 0
    skipped: int = 0
    failures: list[RowFailure] = field(default_factory=list)
    resumed_from_line: int | None = None

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        return (
            f"{self.read} rows read: {self.imported} imported, {self.skipped} skipped "
            f"(already present), {self.failed} failed"
        )


class RowImporter(Protocol):
    """One kind of import. Per batch: `parse` each row (pure, no database), then
    `prepare_batch` (bulk look-ups), then for each parsed row `present` (already
    imported: skip) or `apply` in its own savepoint, and finally `end_batch`."""

    kind: str

    def options(self) -> dict[str, Any]:
        """Settings that change the result; a checkpoint only resumes the same ones."""
        ...

    def parse(self, row: Row) -> Any: ...

    async def prepare_batch(self, items: list[Any]) -> None: ...

    def present(self, item: Any) -> bool: ...

    async def apply(self, row: Row, item: Any) -> Outcome: ...

    async def end_batch(self) -> None: ...


# ---------------------------------------------------------------- checkpoint


def checkpoint_path(path: Path) -> Path:
    return path.with_name(path.name + ".checkpoint")


def fingerprint(path: Path) -> dict[str, Any]:
    """Enough to tell that the file is the same one: size, mtime and its first KB."""
    stat = path.stat()
    with path.open("rb") as handle:
        head = hashlib.sha256(handle.read(1024)).hexdigest()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "head_sha256": head}


def _load_checkpoint(where: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(where.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _save_checkpoint(where: Path, state: dict[str, Any]) -> None:
    """Write atomically: a crash mid-write leaves the previous checkpoint intact."""
    temporary = where.with_name(where.name + ".tmp")
    temporary.write_text(json.dumps(state), encoding="utf-8")
    os.replace(temporary, where)


def _matches(saved: dict[str, Any], expected: dict[str, Any]) -> bool:
    return all(saved.get(key) == value for key, value in expected.items())


# ---------------------------------------------------------------- the run

ROW_ERRORS = (RowError, DomainError, IntegrityError)


def _reason(exc: Exception) -> str:
    if isinstance(exc, DomainError):
        return f"{exc.field}: {exc.message}" if exc.field else exc.message
    if isinstance(exc, IntegrityError):
        return f"conflicts with existing data ({exc})"
    return str(exc)


async def run_import(
    importer: RowImporter,
    path: Path | str,
    *,
    shop_id: int,
    fmt: str | None = None,
    resume: bool = True,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress: Callable[[int], None] | None = None,
    after_batch: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import every row of `path`; bad rows are reported and the rest go on.

    Rows are applied in batches of `batch_size`, each batch one transaction and each
    row a savepoint inside it, so a bad row rolls back only itself. After each batch
    commits, the checkpoint records the last line done; with `resume`, a checkpoint of
    the same file, shop, kind and options skips what is done. A finished run deletes it.
    `after_batch(last_line)` runs after each checkpoint (tests use it to interrupt).
    """
    path = Path(path)
    fmt = detect_format(path, fmt)
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    where = checkpoint_path(path)
    identity = {
        "version": CHECKPOINT_VERSION,
        "kind": importer.kind,
        "shop_id": shop_id,
        "options": importer.options(),
        "format": fmt,
        "file": fingerprint(path),
    }
    report = ImportReport(kind=importer.kind, path=str(path))
    done_through = 0
    saved = _load_checkpoint(where) if resume else None
    if saved is not None and _matches(saved, identity):
        done_through = int(saved.get("line", 0))
        report.resumed_from_line = done_through
        report.read = int(saved.get("read", 0))
        report.imported = int(saved.get("imported", 0))
        report.skipped = int(saved.get("skipped", 0))
        report.failures = [RowFailure(int(n), str(r)) for n, r in saved.get("failures", [])]

    batch: list[Row] = []

    async def flush() -> None:
        await _apply_batch(importer, batch, report, on_progress)
        last = batch[-1].line
        _save_checkpoint(
            where,
            {
                **identity,
                "line": last,
                "read": report.read,
                "imported": report.imported,
                "skipped": report.skipped,
                "failures": [[f.line, f.reason] for f in report.failures],
            },
        )
        batch.clear()
        if after_batch is not None:
            after_batch(last)

    for row in read_rows(path, fmt):
        if row.line <= done_through:
            if on_progress is not None:
                on_progress(1)
            continue
        batch.append(row)
        if len(batch) >= batch_size:
            await flush()
    if batch:
        await flush()
    with contextlib.suppress(FileNotFoundError):
        where.unlink()
    return report


async def _apply_batch(
    importer: RowImporter,
    rows: list[Row],
    report: ImportReport,
    on_progress: Callable[[int], None] | None,
) -> None:
    """One transaction; counts reach the report only once it has committed."""
    imported = skipped = 0
    failures: list[RowFailure] = []
    parsed: list[tuple[Row, Any]] = []
    for row in rows:
        if row.error is not None:
            failures.append(RowFailure(row.line, row.error))
            continue
        try:
            parsed.append((row, importer.parse(row)))
        except ROW_ERRORS as exc:
            failures.append(RowFailure(row.line, _reason(exc)))
    async with in_transaction():
        await importer.prepare_batch([item for _, item in parsed])
        for row, item in parsed:
            if on_progress is not None:
                on_progress(1)
            if importer.present(item):
                skipped += 1
                continue
            try:
                async with in_transaction():  # a savepoint: a bad row undoes only itself
                    outcome = await importer.apply(row, item)
            except ROW_ERRORS as exc:
                failures.append(RowFailure(row.line, _reason(exc)))
                continue
            if outcome is Outcome.IMPORTED:
                imported += 1
            else:
                skipped += 1
        await importer.end_batch()
    if on_progress is not None:
        on_progress(len(rows) - len(parsed))
    report.read += len(rows)
    report.imported += imported
    report.skipped += skipped
    report.failures.extend(sorted(failures, key=lambda f: f.line))
