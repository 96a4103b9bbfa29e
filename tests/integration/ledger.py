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
	"""Per stock item, the quantity these POS Invoices sold (returns negative); a bundle by its
	Product Bundle's items (a sundae is scoops), as ERPNext packs it on the consolidated invoice."""
	total = {}
	for row in frappe.get_all(
		"POS Invoice Item", filters={"parent": ("in", invoices)}, fields=["item_code", "stock_qty"]
	):
		parts = frappe.get_all(
			"Product Bundle Item", filters={"parent": row.item_code}, fields=["item_code", "qty"]
		) or [frappe._dict(item_code=row.item_code, qty=1)]
		for part in parts:
			if frappe.get_cached_value("Item", part.item_code, "is_stock_item"):
				total[part.item_code] = total.get(part.item_code, 0) + flt(part.qty) * flt(row.stock_qty)
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


def consolidation_snapshot(invoices: list[str], warehouse: str, since, cashier: str | None = None) -> dict:
	"""Everything consolidating these POS Invoices left, with document names replaced by their order
	of appearance, the warehouse by "W" and the cashier by "cashier": two consolidations of identical
	sales compare equal exactly when they posted the same things. `since`: Versions written from then on."""
	tokens = {}

	def person(user):
		return "cashier" if cashier and user == cashier else user

	def token(name):
		if not name:
			return None
		return tokens.setdefault(name, f"#{len(tokens)}")

	def rows(doctype, filters, fields, order_by="idx asc"):
		return [
			tuple("W" if value == warehouse else person(value) for value in row)
			for row in frappe.get_all(
				doctype, filters=filters, fields=fields, order_by=order_by, as_list=True
			)
		]

	snapshot = {"invoices": [], "merge_logs": [], "vouchers": []}
	for invoice in invoices:
		token(invoice)
		doc = frappe.db.get_value(
			"POS Invoice",
			invoice,
			["status", "consolidated_invoice", "custom_stock_synced", "modified_by", "docstatus"],
			as_dict=True,
		)
		versions = frappe.get_all(
			"Version",
			filters={"ref_doctype": "POS Invoice", "docname": invoice, "creation": (">=", since)},
			fields=["data", "owner"],
			order_by="creation asc",
		)
		snapshot["invoices"].append(
			(
				doc.status,
				token(doc.consolidated_invoice),
				doc.custom_stock_synced,
				person(doc.modified_by),
				doc.docstatus,
				[(version_changes(v.data, token), person(v.owner)) for v in versions],
			)
		)
	logs = frappe.get_all(
		"POS Invoice Reference",
		filters={"pos_invoice": ("in", invoices), "parenttype": "POS Invoice Merge Log"},  # not closings'
		pluck="parent",
		distinct=True,
	)
	for log in sorted(logs, key=lambda name: min_invoice_position(name, invoices)):
		doc = frappe.get_doc("POS Invoice Merge Log", log)
		snapshot["merge_logs"].append(
			(
				doc.docstatus,
				doc.customer,
				token(doc.consolidated_invoice),
				token(doc.consolidated_credit_note),
				[
					(token(r.pos_invoice), r.customer, flt(r.grand_total), r.is_return)
					for r in doc.pos_invoices
				],
			)
		)
		for voucher in (doc.consolidated_invoice, doc.consolidated_credit_note):
			if voucher:
				snapshot["vouchers"].append(voucher_snapshot(voucher, token, rows))
	items = {row[0] for voucher in snapshot["vouchers"] for row in voucher["items"]}
	snapshot["bins"] = rows(
		"Bin",
		{"warehouse": warehouse, "item_code": ("in", list(items) or [""])},
		["item_code", "actual_qty", "projected_qty", "reserved_qty", "stock_value", "valuation_rate"],
		order_by="item_code asc",
	)
	return snapshot


def voucher_snapshot(voucher: str, token, rows) -> dict:
	totals = frappe.db.get_value(
		"Sales Invoice",
		voucher,
		[
			"docstatus",
			"is_return",
			"is_consolidated",
			"is_pos",
			"customer",
			"total_qty",
			"net_total",
			"total_taxes_and_charges",
			"grand_total",
			"rounded_total",
			"paid_amount",
			"change_amount",
			"write_off_amount",
			"outstanding_amount",
			"base_grand_total",
			"status",
		],
		as_dict=True,
	)
	by_voucher = {"voucher_no": voucher, "is_cancelled": 0}
	return {
		"token": token(voucher),
		"totals": totals,
		"items": rows(
			"Sales Invoice Item",
			{"parent": voucher},
			["item_code", "qty", "stock_qty", "rate", "amount", "net_amount", "warehouse", "income_account"],
		),
		"payments": rows(  # ERPNext's merge keeps each POS Invoice's own idx: ties between invoices
			"Sales Invoice Payment",
			{"parent": voucher},
			["mode_of_payment", "account", "amount"],
			order_by="idx asc, mode_of_payment asc, amount asc",
		),
		"taxes": rows(
			"Sales Taxes and Charges", {"parent": voucher}, ["account_head", "tax_amount", "total"]
		),
		"stock_ledger": rows(
			"Stock Ledger Entry",
			by_voucher,
			[
				"item_code",
				"warehouse",
				"actual_qty",
				"qty_after_transaction",
				"incoming_rate",
				"valuation_rate",
				"stock_value",
				"stock_value_difference",
			],
			order_by="item_code asc, actual_qty asc",
		),
		"general_ledger": rows(
			"GL Entry",
			by_voucher,
			["account", "debit", "credit", "party_type", "party", "cost_center", "against"],
			order_by="account asc, debit asc, credit asc",
		),
		"payment_ledger": [
			(account, party, amount, token(against))
			for account, party, amount, against in rows(
				"Payment Ledger Entry",
				{"voucher_no": voucher, "delinked": 0},
				["account", "party", "amount", "against_voucher_no"],
				order_by="account asc, amount asc",
			)
		],
	}


def version_changes(data: str, token) -> list:
	changes = frappe.parse_json(data)
	return [
		[
			field,
			token(old) if field == "consolidated_invoice" else old,
			token(new) if field == "consolidated_invoice" else new,
		]
		for field, old, new in changes.get("changed", [])
	] + [["other", key] for key in ("added", "removed", "row_changed") if changes.get(key)]


def min_invoice_position(merge_log: str, invoices: list[str]) -> int:
	linked = frappe.get_all("POS Invoice Reference", filters={"parent": merge_log}, pluck="pos_invoice")
	return min(invoices.index(name) for name in linked if name in invoices)
