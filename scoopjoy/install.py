import frappe

PENDING_SYNC_INDEX = "scoopjoy_pending_sync"


def add_pending_sync_index():
	"""The sync pages through one warehouse's unsynced, submitted invoices in name order, with
	locking reads: this index makes each page an index range scan that locks only its own rows."""
	frappe.db.add_index(
		"POS Invoice", ["set_warehouse", "custom_stock_synced", "docstatus"], PENDING_SYNC_INDEX
	)
