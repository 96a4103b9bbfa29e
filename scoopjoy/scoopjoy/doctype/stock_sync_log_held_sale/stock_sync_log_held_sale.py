# Copyright (c) 2026, ScoopJoy and contributors
# For license information, please see license.txt

from frappe.model.document import Document


class StockSyncLogHeldSale(Document):
	pass
