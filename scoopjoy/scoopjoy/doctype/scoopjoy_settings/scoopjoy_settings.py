# Copyright (c) 2026, ScoopJoy and contributors
# For license information, please see license.txt

import frappe
from frappe.model.document import Document

CONSOLIDATE = "Consolidate into stock ledger"
MARK_ONLY = "Mark invoices only"


class ScoopJoySettings(Document):
	pass


def stock_posting_mode() -> str:
	"""The mode a new run uses. A site upgraded by `migrate` has no stored value yet: the default."""
	return frappe.db.get_single_value("ScoopJoy Settings", "stock_posting") or CONSOLIDATE
