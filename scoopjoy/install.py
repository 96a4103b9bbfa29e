"""Install and migrate: the POS Invoice field the sync sets, the indexes its queries rely on, and the\nStock Sync Log row of Log Settings (history retention)."""

import frappe
from frappe.utils.fixtures import sync_fixtures

from scoopjoy.scoopjoy.doctype.scoopjoy_settings.scoopjoy_settings import register_with_log_settings

# (name, columns): the sync's two questions about one outlet's warehouse.
INDEXES = (
	# Which submitted invoices are not marked yet? (one UPDATE per page)
	("scoopjoy_pending_sync", ["set_warehouse", "custom_stock_synced", "docstatus"]),
	# Which submitted invoices are not consolidated yet, marked or not? (a locking read)
	("scoopjoy_unconsolidated", ["set_warehouse", "docstatus", "consolidated_invoice"]),
)


def after_install():
	# Frappe's install_app runs after_install before it syncs the app's fixtures, so the custom
	# field an index covers would not exist yet: apply the fixtures first (install_app applies
	# them again right after, which finds nothing to change).
	sync_fixtures("scoopjoy")
	add_indexes()
	register_with_log_settings()


def after_migrate():
	add_indexes()
	register_with_log_settings()


def add_indexes():
	"""Each makes its question an index range scan that locks only the outlet's own rows."""
	for name, columns in INDEXES:
		frappe.db.add_index("POS Invoice", columns, name)
