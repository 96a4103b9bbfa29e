"""Counting what ERPNext posted, per POS Invoice: the proof that stock and money exist exactly once."""

import frappe
from frappe.utils import flt


def merge_log_refs(invoice: str) -> int:
	"""Submitted POS Invoice Merge Logs that consolidated this invoice (a cashier's or the sync's)."""
	ref = frappe.qb.DocType("POS Invoice Reference")
	log = frappe.qb.DocType("POS Invoice Merge Log")
	return (
		frappe.qb.from_(ref)
		.join(log)
		.on(ref.parent == log.name)
		.select(frappe.query_builder.functions.Count("*"))
		.where((ref.pos_invoice == invoice) & (log.docstatus == 1))
		.run()[0][0]
	)


def consolidated_vouchers(warehouse: str) -> set[str]:
	"""Sales Invoices (consolidated ones and credit notes) that moved stock of the warehouse."""
	return set(
		frappe.get_all(
			"Stock Ledger Entry",
			filters={"warehouse": warehouse, "voucher_type": "Sales Invoice", "is_cancelled": 0},
			pluck="voucher_no",
			distinct=True,
		)
	)


def stock_moved_by_sales(warehouse: str) -> dict[str, float]:
	"""Per item, what Sales Invoices took out of the warehouse (negative: out)."""
	moved = {}
	for row in frappe.get_all(
		"Stock Ledger Entry",
		filters={"warehouse": warehouse, "voucher_type": "Sales Invoice", "is_cancelled": 0},
		fields=["item_code", "actual_qty"],
	):
		moved[row.item_code] = moved.get(row.item_code, 0) + flt(row.actual_qty)
	return moved


def sold(invoices: list[str]) -> dict[str, float]:
	"""Per item, the quantity these POS Invoices sold (returns negative)."""
	total = {}
	for row in frappe.get_all(
		"POS Invoice Item", filters={"parent": ("in", invoices)}, fields=["item_code", "stock_qty"]
	):
		total[row.item_code] = total.get(row.item_code, 0) + flt(row.stock_qty)
	return total


def bin_qty(item: str, warehouse: str) -> float:
	return flt(frappe.db.get_value("Bin", {"item_code": item, "warehouse": warehouse}, "actual_qty"))


def gl_balance(voucher: str) -> tuple[int, float]:
	"""(GL Entries, debit - credit) of one voucher."""
	entries = frappe.get_all(
		"GL Entry",
		filters={"voucher_type": "Sales Invoice", "voucher_no": voucher, "is_cancelled": 0},
		fields=["debit", "credit"],
	)
	return len(entries), round(sum(flt(e.debit) - flt(e.credit) for e in entries), 6)


def assert_consolidated_once(invoices: list[str], warehouse: str):
	"""Every invoice consolidated by exactly one merge log into a submitted Sales Invoice; the
	warehouse's stock moved by exactly what they sold; every voucher's GL balanced."""
	for invoice in invoices:
		consolidated_into, status, flag = frappe.db.get_value(
			"POS Invoice", invoice, ["consolidated_invoice", "status", "custom_stock_synced"]
		)
		assert merge_log_refs(invoice) == 1, invoice
		assert (status, flag) == ("Consolidated", 1), invoice
		assert frappe.db.get_value("Sales Invoice", consolidated_into, "docstatus") == 1, invoice
	moved = stock_moved_by_sales(warehouse)
	assert moved == {item: -qty for item, qty in sold(invoices).items() if qty}, (moved, sold(invoices))
	for voucher in consolidated_vouchers(warehouse):
		entries, balance = gl_balance(voucher)
		assert entries and balance == 0, voucher


def assert_untouched(invoices: list[str], warehouse: str):
	"""Nothing posted, nothing linked, nothing marked."""
	for invoice in invoices:
		consolidated_into, flag = frappe.db.get_value(
			"POS Invoice", invoice, ["consolidated_invoice", "custom_stock_synced"]
		)
		assert (merge_log_refs(invoice), consolidated_into or None, flag) == (0, None, 0), invoice
	assert consolidated_vouchers(warehouse) == set()
