# Copyright (c) 2026, ScoopJoy and contributors
# For license information, please see license.txt

"""The sales the sync holds now: POS Invoices ERPNext refused to consolidate while the rest of their
outlet was posted (scoopjoy.stock_posting isolates them). One row per held sale, written in the
outlet's own transaction with the run's record, so the list and the ledger always commit together.

A held sale is unconsolidated, so every later run retries it with the outlet's other pending sales.
It leaves the list when a run posts it, when the cashier cancels it, or when the cashier returns it
(the return joins its original in the next attempt). Its reason ends with what will post it
(scoopjoy.sale_isolation.what_posts_it). Stock arriving in a warehouse of an
outlet with held sales queues a sync of that outlet's group (scoopjoy.stock_sync.sync_on_stock_in); this
module only keeps the records, and never imports the sync.
"""

import frappe
from frappe.model.document import Document
from frappe.utils import now_datetime

from scoopjoy import bulk

HELD_FIELDS = ("pos_invoice", "outlet", "warehouse", "reason", "held_since", "last_run")
NEXT_STATE = {  # a sale held again keeps its held_since
	"outlet": "VALUES(`outlet`)",
	"warehouse": "VALUES(`warehouse`)",
	"reason": "VALUES(`reason`)",
	"last_run": "VALUES(`last_run`)",
	"modified": "VALUES(`modified`)",
}


class HeldPOSSale(Document):
	pass


def record_held_sales(run_name: str, results: list[dict]):
	"""Make each outlet's held list what this chunk's consolidation found: its held sales added (a
	sale held before keeps its held_since, which is written onto the result's rows), the ones it
	posted removed. Outlets that failed before their sales were tried keep their list as it was."""
	tried = [r for r in results if r.get("held") is not None]
	if not tried:
		return
	held = [sale for r in tried for sale in r["held"]]
	names = [sale["pos_invoice"] for sale in held]
	table = frappe.qb.DocType("Held POS Sale")
	since = dict(
		frappe.qb.from_(table)
		.select(table.name, table.held_since)
		.where(table.name.isin(names or [""]))
		.run()
	)
	frappe.db.delete(
		"Held POS Sale",
		{"outlet": ("in", [r["outlet"] for r in tried]), "name": ("not in", names or [""])},
	)
	now = now_datetime()
	for result in tried:
		for sale in result["held"]:
			sale["held_since"] = since.get(sale["pos_invoice"]) or now
			sale["outlet"] = result["outlet"]
	bulk.insert(
		"Held POS Sale",
		("name", *HELD_FIELDS, "creation", "modified", "owner", "modified_by"),
		[
			(
				sale["pos_invoice"],
				*(sale.get(f) for f in HELD_FIELDS[:-1]),
				run_name,
				now,
				now,
				"Administrator",
				"Administrator",
			)
			for sale in held
		],
		on_duplicate_key_update=NEXT_STATE,
	)


def held_in_warehouses(warehouses: list[str]) -> list[str]:
	"""The outlets holding sales in any of these warehouses."""
	if not warehouses:
		return []
	return frappe.get_all(
		"Held POS Sale", filters={"warehouse": ("in", warehouses)}, pluck="outlet", distinct=True
	)


def held_sales_of(outlets: list[str]) -> dict[str, list[dict]]:
	"""{outlet: its held sales, oldest first} for the health report (index on outlet)."""
	held = {}
	for sale in frappe.get_all(
		"Held POS Sale",
		filters={"outlet": ("in", outlets or [""])},
		fields=["name", "outlet", "reason", "held_since"],
		order_by="held_since asc, name asc",
	):
		held.setdefault(sale.outlet, []).append(sale)
	return held


def forget_corrected_sale(doc) -> str | None:
	"""The cashier corrected a held sale (cancelled it, or submitted its return): it leaves the held
	list. Returns the outlet it was held at, or None when the document corrected no held sale."""
	if doc.doctype != "POS Invoice":
		return None
	corrected = doc.return_against if doc.docstatus == 1 and doc.is_return else doc.name
	# Every sale's submit passes here: one primary-key read, and a delete only for a held sale.
	held = corrected and frappe.db.get_value("Held POS Sale", corrected, ["name", "outlet"], as_dict=True)
	if not held:
		return None
	frappe.db.delete("Held POS Sale", {"name": held.name})
	return held.outlet


def outlets_holding_sales_for(doc) -> list[str]:
	"""The outlets with held sales in a warehouse this submitted stock transaction brought stock into
	(a Stock Reconciliation counts whichever way it moved)."""
	sle = frappe.qb.DocType("Stock Ledger Entry")
	warehouses = (
		frappe.qb.from_(sle)
		.select(sle.warehouse)
		.distinct()
		.where(
			(sle.voucher_type == doc.doctype)
			& (sle.voucher_no == doc.name)
			& (sle.is_cancelled == 0)
			& ((sle.actual_qty > 0) | (sle.voucher_type == "Stock Reconciliation"))
		)
		.run(pluck=True)
	)
	return held_in_warehouses(warehouses)
