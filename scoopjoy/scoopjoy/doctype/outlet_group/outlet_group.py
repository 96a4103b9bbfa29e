# Copyright (c) 2026, ScoopJoy and contributors
# For license information, please see license.txt

import frappe
from frappe import _
from frappe.model.document import Document

from scoopjoy.scoopjoy.doctype.stock_sync_log.stock_sync_log import ALL_OUTLETS


class OutletGroup(Document):
	def validate(self):
		# Stock Sync Log writes "All" for a run over every outlet; a group of that name would be ambiguous.
		if self.outlet_group_name == ALL_OUTLETS:
			frappe.throw(_("{0} is reserved; choose another name.").format(frappe.bold(ALL_OUTLETS)))
