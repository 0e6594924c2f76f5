"""Bulk imports: historic orders and members migrated from other loyalty apps.

Each import reads a CSV or JSON-lines file row by row, applies every row in its own
savepoint inside a batch transaction, reports bad rows by file line and carries on,
and keeps a checkpoint beside the file so an interrupted run resumes where it stopped.
Running an import twice changes nothing: orders are keyed by the shop's order id and
members by one ledger entry each.
"""

from loyalty.imports.members import import_members
from loyalty.imports.orders import import_orders, record_historic_order
from loyalty.imports.runner import ImportReport, RowFailure

__all__ = [
    "ImportReport",
    "RowFailure",
    "import_members",
    "import_orders",
    "record_historic_order",
]
