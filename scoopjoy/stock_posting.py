"""Posting one outlet's stock: its POS Invoices consolidated into ERPNext's stock ledger.

Submitting a POS Invoice posts no stock and no GL; ERPNext posts them when invoices are consolidated
(POS Invoice Merge Log → consolidated Sales Invoice, or a credit note for returns → Stock Ledger
Entries, Bin, GL). This module does for one outlet what ERPNext's `create_merge_logs` does, through
the door to ERPNext (scoopjoy.erpnext_pos, which makes the merge logs) and without its
`try`/rollback/commit: the caller runs it inside the outlet's savepoint, so a failure takes back
exactly this outlet and the chunk commits the rest. Sales ERPNext refuses are isolated and held
(scoopjoy.sale_isolation); mark-only mode lives in scoopjoy.mark_only.

Exactly once: the outlet's unconsolidated invoices are read with a locking read (the latest committed
rows, held until the chunk commits), and ERPNext's merge log refuses an invoice that is already
Consolidated. A cashier's POS Closing Entry locks the same rows (scoopjoy.pos_closing): whichever
comes second waits, then sees what the first consolidated and counts it instead of posting it again.
"""

from contextlib import contextmanager

import frappe
from frappe import _
from frappe.utils import create_batch

from scoopjoy.mark_only import PAGE_SIZE, mark_pending
from scoopjoy.sale_isolation import Isolation
from scoopjoy.scoopjoy.doctype.scoopjoy_settings.scoopjoy_settings import MARK_ONLY


def post_outlet_stock(outlet: dict, mode: str) -> dict:
	"""Post one outlet (a row of stock_sync.lock_outlets) and return what was done:
	invoices_consolidated, invoices_flagged, stock_qty and one entry per merge log.
	Sales ERPNext refuses are held (see Isolation) and the rest is posted. Raises, leaving the rollback
	to the caller's savepoint, on bad outlet data or an error that does not depend on the sale."""
	warehouse = validated_warehouse(outlet)
	if mode == MARK_ONLY:
		return outcome(flagged=mark_pending(warehouse))

	to_consolidate = lock_unconsolidated(warehouse)
	flagged = mark_pending(warehouse, consolidated_only=True)  # a cashier's closing posted these
	isolation = Isolation(to_consolidate, warehouse)
	isolation.run()
	mark_synced(isolation.posted)
	held = [{**sale, "warehouse": warehouse} for sale in isolation.held]
	return outcome(flagged=flagged, consolidations=isolation.consolidations, held=held) | {
		"attempts": isolation.attempts
	}


def outcome(
	flagged: int = 0, consolidations: list[dict] | None = None, held: list[dict] | None = None
) -> dict:
	consolidations = consolidations or []
	return {
		"invoices_consolidated": sum(c["invoices"] for c in consolidations),
		"invoices_flagged": flagged,
		"invoices_held": len(held or ()),
		"stock_qty": sum(c["stock_qty"] for c in consolidations),
		"consolidations": consolidations,
		"held": held,  # None: the outlet's sales were not tried (mark-only)
	}


def validated_warehouse(outlet: dict) -> str:
	warehouse = outlet.franchise_warehouse
	if not warehouse:
		frappe.throw(_("Outlet {0} has no franchise warehouse configured.").format(outlet.name))
	if outlet.warehouse_disabled is None:
		frappe.throw(_("Warehouse {0} of outlet {1} does not exist.").format(warehouse, outlet.name))
	if outlet.warehouse_disabled:
		frappe.throw(_("Warehouse {0} of outlet {1} is disabled.").format(warehouse, outlet.name))
	return warehouse


def lock_unconsolidated(warehouse: str) -> list[dict]:
	"""Every submitted, unconsolidated invoice of the warehouse, marked or not (a "Mark invoices only"
	run marked them without posting their stock), locked, in posting order. The locking read sees
	the latest committed rows, not this transaction's snapshot. Index scoopjoy_unconsolidated."""
	invoice = frappe.qb.DocType("POS Invoice")
	return (
		frappe.qb.from_(invoice)
		.select(
			invoice.name.as_("pos_invoice"),
			invoice.customer,
			invoice.posting_date,
			invoice.posting_time,
			invoice.grand_total,
			invoice.is_return,
			invoice.return_against,
		)
		.where(
			(invoice.set_warehouse == warehouse)
			& (invoice.docstatus == 1)
			& (invoice.consolidated_invoice.isnull() | (invoice.consolidated_invoice == ""))
		)
		.orderby(invoice.posting_date)
		.orderby(invoice.posting_time)
		.orderby(invoice.name)
		.for_update()
		.run(as_dict=True)
	)


def mark_synced(names: list[str]):
	invoice = frappe.qb.DocType("POS Invoice")
	for batch in create_batch(names, PAGE_SIZE):
		frappe.qb.update(invoice).set(invoice.custom_stock_synced, 1).where(invoice.name.isin(batch)).run()


@contextmanager
def posting_session():
	"""How a worker posts, from its next transaction on, restored afterwards.

	As the system, like a scheduled job: the Stock Manager who pressed Sync Stock may not create
	Sales Invoices; the run records who triggered it.

	READ COMMITTED: a chunk runs for seconds while cashiers keep submitting invoices. The locking read
	sees an invoice submitted after the chunk began, and ERPNext's plain reads of it during
	consolidation must see it too (REPEATABLE READ would show them the chunk's older snapshot). It
	also takes no gap locks, so a cashier's new invoice never waits for the sync's chunk."""
	user = frappe.session.user
	# A session variable: no query-builder form.
	level = frappe.db.sql("SELECT @@SESSION.tx_isolation")  # nosemgrep: frappe-using-db-sql
	isolation = level[0][0].replace("-", " ")
	frappe.set_user("Administrator")
	set_isolation_level("READ COMMITTED")
	frappe.flags.scoopjoy_posting = True  # its own credit notes are no stock-in to react to
	try:
		yield
	finally:
		frappe.flags.scoopjoy_posting = False
		set_isolation_level(isolation)
		frappe.set_user(user)


def set_isolation_level(level: str):
	if level not in ("READ COMMITTED", "REPEATABLE READ", "READ UNCOMMITTED", "SERIALIZABLE"):
		raise ValueError(level)
	# No query-builder form for SET SESSION; the level is one of four constants.
	frappe.db.sql(f"SET SESSION TRANSACTION ISOLATION LEVEL {level}")  # nosemgrep: frappe-using-db-sql
