import frappe


def execute():
	"""Stock Sync Log Error became Stock Sync Log Outlet (one row per processed outlet, not only failures)."""
	if frappe.db.exists("DocType", "Stock Sync Log Error"):
		frappe.delete_doc("DocType", "Stock Sync Log Error", force=True, ignore_missing=True)
