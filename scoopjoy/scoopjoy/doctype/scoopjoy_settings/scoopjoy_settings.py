# Copyright (c) 2026, ScoopJoy and contributors
# For license information, please see license.txt

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.utils import cint

CONSOLIDATE = "Consolidate into stock ledger"
MARK_ONLY = "Mark invoices only"
STALE_AFTER = 60  # seconds; see the field's description
MIN_STALE_AFTER = 10


class ScoopJoySettings(Document):
	def validate(self):
		if self.stale_after is not None and cint(self.stale_after) < MIN_STALE_AFTER:
			frappe.throw(
				_(
					"Stale After must be at least {0} seconds: a live worker would be taken for frozen."
				).format(MIN_STALE_AFTER)
			)


def stock_posting_mode() -> str:
	"""The mode a new run uses. A site upgraded by `migrate` has no stored value yet: the default."""
	return frappe.db.get_single_value("ScoopJoy Settings", "stock_posting") or CONSOLIDATE


def stale_after() -> int:
	"""Seconds of database silence after which a run's worker is taken for frozen."""
	return (
		cint(frappe.conf.get("scoopjoy_stale_after"))
		or cint(frappe.db.get_single_value("ScoopJoy Settings", "stale_after"))
		or STALE_AFTER
	)
