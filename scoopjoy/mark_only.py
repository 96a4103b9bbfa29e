"""Mark-only mode ("Mark invoices only" in ScoopJoy Settings): the outlet's POS Invoices are flagged
synced without posting stock, a whole chunk in two statements where it can, one outlet at a time
where it cannot."""

import frappe
from frappe.query_builder.functions import Count

from scoopjoy.savepoint import Savepoint

PAGE_SIZE = 500  # invoices marked per UPDATE statement


def affected_rows() -> int:
	"""Rows the last statement changed: pymysql's count; Frappe has no API for it."""
	return frappe.db._cursor.rowcount


def mark_outlets_at_once(outlets: list[dict]) -> list[int] | None:
	"""Mark-only mode for a whole chunk in two statements instead of two per outlet: count each
	warehouse's pending invoices, mark them all with one UPDATE. Per-outlet isolation is kept by
	falling back: when an outlet's data is bad, two outlets share a warehouse, or the UPDATE fails or
	marks other than what was counted (a cashier's invoice committed in between), nothing is left
	written and None asks the caller to take the outlets one by one, each in its savepoint.
	Returns the invoices marked per outlet, in order."""
	warehouses = [outlet.franchise_warehouse for outlet in outlets]
	usable = all(w and outlet.warehouse_disabled == 0 for w, outlet in zip(warehouses, outlets, strict=True))
	if not outlets or not usable or len(set(warehouses)) != len(warehouses):
		return None
	savepoint = Savepoint()
	try:
		pending = count_pending(warehouses)
		marked = mark_warehouses(warehouses)
	except frappe.QueryDeadlockError:
		raise  # InnoDB dropped the whole transaction: the caller redoes the chunk
	except Exception:
		savepoint.rollback()
		return None
	if marked != sum(pending.values()):
		savepoint.rollback()
		return None
	return [pending.get(w, 0) for w in warehouses]


def count_pending(warehouses: list[str]) -> dict[str, int]:
	invoice = frappe.qb.DocType("POS Invoice")
	return dict(
		frappe.qb.from_(invoice)
		.select(invoice.set_warehouse, Count("*"))
		.where(pending_in(invoice, warehouses))
		.groupby(invoice.set_warehouse)
		.run()
	)


def mark_warehouses(warehouses: list[str]) -> int:
	invoice = frappe.qb.DocType("POS Invoice")
	frappe.qb.update(invoice).set(invoice.custom_stock_synced, 1).where(pending_in(invoice, warehouses)).run()
	return affected_rows()


def pending_in(invoice, warehouses: list[str]):
	"""Submitted, unmarked invoices of these warehouses: index scoopjoy_pending_sync."""
	return (
		invoice.set_warehouse.isin(warehouses) & (invoice.custom_stock_synced == 0) & (invoice.docstatus == 1)
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
		rows = affected_rows()
		marked += rows
		if rows < PAGE_SIZE:  # a short page is the last
			return marked
