"""Install and migrate: the POS Invoice field the sync sets, the indexes its queries rely on, and the\nStock Sync Log row of Log Settings (history retention)."""

import frappe
from frappe import _
from frappe.utils.fixtures import sync_fixtures

from scoopjoy.scoopjoy.doctype.scoopjoy_settings.scoopjoy_settings import register_with_log_settings

# (name, columns): the sync's two questions about one outlet's warehouse.
INDEXES = (
	# Which submitted invoices are not marked yet? (one UPDATE per page)
	("scoopjoy_pending_sync", ["set_warehouse", "custom_stock_synced", "docstatus"]),
	# Which submitted invoices are not consolidated yet, marked or not? (a locking read)
	("scoopjoy_unconsolidated", ["set_warehouse", "docstatus", "consolidated_invoice"]),
)


def before_install():
	"""Frappe maps apps to their modules once per process, from a cache in Redis. A cache made before
	this app was added to the bench's apps.txt (any site in use has one) lacks its module, and
	install-app would then sync none of its DocTypes and still record the app as installed. Rebuild
	the map first."""
	if "scoopjoy" not in (frappe.local.app_modules or {}):
		frappe.cache.delete_value(
			["app_modules", "installed_app_modules", "module_app", "module_installed_app"]
		)
		frappe.local.app_modules = None
		frappe.setup_module_map()


def before_migrate():
	"""Refuse to migrate while a worker is running a stock sync: its code and the lock names it holds
	are the release before's, and a worker of the new code must not take the run over meanwhile."""
	if not frappe.db.table_exists("Stock Sync Log"):
		return
	for name in frappe.get_all(
		"Stock Sync Log", filters={"status": ("in", ("Queued", "Running"))}, pluck="name"
	):
		if frappe.get_doc("Stock Sync Log", name).worker_is_running():
			frappe.throw(
				_(
					"Stock sync {0} is running. Wait for it to finish, or cancel it, then migrate again: "
					"a migration during a run could give it to two workers."
				).format(name)
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
