"""Posting one outlet's stock: its POS Invoices consolidated into ERPNext's stock ledger.

Submitting a POS Invoice posts no stock and no GL; ERPNext posts them when invoices are consolidated
(POS Invoice Merge Log → consolidated Sales Invoice, or a credit note for returns → Stock Ledger
Entries, Bin, GL). This module does what ERPNext's `create_merge_logs` does for one outlet, through the
same documents and validations, but without its `try`/rollback/commit: the caller runs it inside the
outlet's savepoint, so a failure takes back exactly this outlet and the chunk commits the rest.

Exactly once: the outlet's unconsolidated invoices are read with a locking read (the latest committed
rows, held until the chunk commits), and ERPNext's merge log refuses an invoice that is already
Consolidated. A cashier's POS Closing Entry racing the sync either commits first (then the sync finds
the invoices consolidated and only marks them) or waits for the sync's locks and then fails on
ERPNext's own "modified after you opened it" check, because consolidating re-saves each POS Invoice.
"""

import html
from collections import defaultdict
from contextlib import contextmanager

import frappe
from erpnext.accounts.doctype.pos_invoice_merge_log.pos_invoice_merge_log import split_invoices
from frappe import _
from frappe.utils import create_batch, flt, nowdate, nowtime, strip_html_tags

from scoopjoy.scoopjoy.doctype.scoopjoy_settings.scoopjoy_settings import MARK_ONLY

PAGE_SIZE = 500  # invoices marked per UPDATE statement


def post_outlet_stock(outlet: dict, mode: str) -> dict:
	"""Post one outlet (a row of stock_sync.lock_outlets) and return what was done:
	invoices_consolidated, invoices_flagged, stock_qty and one entry per merge log.
	Raises, leaving the rollback to the caller's savepoint, on bad outlet data or any ERPNext error."""
	warehouse = validated_warehouse(outlet)
	if mode == MARK_ONLY:
		return outcome(flagged=mark_pending(warehouse))

	to_consolidate = lock_unconsolidated(warehouse)
	flagged = mark_pending(warehouse, consolidated_only=True)  # a cashier's closing posted these
	consolidations = [
		consolidate(customer, invoices)
		for customer, invoices in by_customer(to_consolidate).items()
		for invoices in split_invoices(invoices)  # ERPNext's order for serial-number returns
	]
	mark_synced([row.pos_invoice for row in to_consolidate])
	return outcome(flagged=flagged, consolidations=consolidations)


def outcome(flagged: int = 0, consolidations: list[dict] | None = None) -> dict:
	consolidations = consolidations or []
	return {
		"invoices_consolidated": sum(c["invoices"] for c in consolidations),
		"invoices_flagged": flagged,
		"stock_qty": sum(c["stock_qty"] for c in consolidations),
		"consolidations": consolidations,
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


# ── reading and marking the outlet's invoices ──────────────────────────────────────────────


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


def mark_pending(warehouse: str, consolidated_only: bool = False) -> int:
	"""Mark the warehouse's submitted, unmarked invoices as synced, one UPDATE per page (index
	scoopjoy_pending_sync); an UPDATE reads the latest committed rows, so an overlapping run finds
	them marked. A system flag, not an edit: `modified` stays as the cashier left it."""
	invoice = frappe.qb.DocType("POS Invoice")
	condition = (
		(invoice.set_warehouse == warehouse) & (invoice.custom_stock_synced == 0) & (invoice.docstatus == 1)
	)
	if consolidated_only:
		condition &= invoice.consolidated_invoice.notnull() & (invoice.consolidated_invoice != "")
	page = frappe.qb.update(invoice).set(invoice.custom_stock_synced, 1).where(condition).limit(PAGE_SIZE)
	marked = 0
	while True:
		page.run()
		rows = frappe.db._cursor.rowcount  # pymysql's affected rows; Frappe has no API for it
		marked += rows
		if rows < PAGE_SIZE:  # a short page is the last
			return marked


def mark_synced(names: list[str]):
	invoice = frappe.qb.DocType("POS Invoice")
	for batch in create_batch(names, PAGE_SIZE):
		frappe.qb.update(invoice).set(invoice.custom_stock_synced, 1).where(invoice.name.isin(batch)).run()


def by_customer(invoices: list[dict]) -> dict[str, list[dict]]:
	"""One merge log per customer, as ERPNext's POS closing groups them."""
	groups = defaultdict(list)
	for row in invoices:
		groups[row.customer].append(row)
	return groups


# ── consolidating through ERPNext ───────────────────────────────────────────────────────────


def consolidate(customer: str, invoices: list[dict]) -> dict:
	"""One POS Invoice Merge Log, made and submitted as `create_merge_logs` makes it (a cashier's
	closing gives its own posting time; here it is now). Its submit makes the consolidated Sales
	Invoice and/or credit note, which post the Stock Ledger, Bin and GL, and links every POS Invoice."""
	merge_log = frappe.new_doc("POS Invoice Merge Log")
	merge_log.posting_date = nowdate()
	merge_log.posting_time = nowtime()
	merge_log.customer = customer
	merge_log.set("pos_invoices", invoices)
	merge_log.save(ignore_permissions=True)
	merge_log.submit()
	vouchers = [v for v in (merge_log.consolidated_invoice, merge_log.consolidated_credit_note) if v]
	return {
		"merge_log": merge_log.name,
		"sales_invoice": merge_log.consolidated_invoice,
		"credit_note": merge_log.consolidated_credit_note,
		"invoices": len(invoices),
		"stock_qty": stock_qty_out(vouchers),
	}


def stock_qty_out(vouchers: list[str]) -> float:
	"""What left the warehouse, in stock UOM, as the Stock Ledger has it (a return counts negative)."""
	if not vouchers:
		return 0.0
	sle = frappe.qb.DocType("Stock Ledger Entry")
	posted = (
		frappe.qb.from_(sle)
		.select(frappe.query_builder.functions.Sum(sle.actual_qty))
		.where(
			(sle.voucher_type == "Sales Invoice") & sle.voucher_no.isin(vouchers) & (sle.is_cancelled == 0)
		)
		.run()
	)[0][0]
	return -flt(posted)


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
	try:
		yield
	finally:
		set_isolation_level(isolation)
		frappe.set_user(user)


def set_isolation_level(level: str):
	if level not in ("READ COMMITTED", "REPEATABLE READ", "READ UNCOMMITTED", "SERIALIZABLE"):
		raise ValueError(level)
	# No query-builder form for SET SESSION; the level is one of four constants.
	frappe.db.sql(f"SET SESSION TRANSACTION ISOLATION LEVEL {level}")  # nosemgrep: frappe-using-db-sql


def readable(message: str) -> str:
	"""ERPNext's messages carry HTML (<strong>, links to documents): the text a person reads."""
	return " ".join(html.unescape(strip_html_tags(message or "")).split())
