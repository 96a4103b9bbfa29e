"""What `install-app` promises on a brand-new site, and what `migrate` from the previous release gives.

scripts/check-fresh-install runs `-k install` right after `bench --site NEW install-app scoopjoy`, and
`-k upgrade` after installing the previous release and migrating to this checkout.
"""

import pytest

frappe = pytest.importorskip("frappe", reason="Frappe tier skipped: no Frappe bench (FRAPPE_BENCH)")

DOCTYPES = (
	"Outlet Group",
	"Franchise Agreement",
	"Stock Sync Log",
	"Stock Sync Log Outlet",
	"Stock Sync Log Consolidation",
	"ScoopJoy Settings",
	"Outlet Sync Status",
)
INDEXES = {
	"scoopjoy_pending_sync": ["set_warehouse", "custom_stock_synced", "docstatus"],
	"scoopjoy_unconsolidated": ["set_warehouse", "docstatus", "consolidated_invoice"],
}


def assert_schema():
	assert "scoopjoy" in frappe.get_installed_apps()
	for doctype in DOCTYPES:
		assert frappe.db.get_value("DocType", doctype, "module") == "ScoopJoy", doctype
		assert frappe.db.table_exists(doctype) or frappe.get_meta(doctype).issingle, doctype
	assert frappe.db.exists("Custom Field", "POS Invoice-custom_stock_synced")
	assert frappe.db.has_column("POS Invoice", "custom_stock_synced")
	for name, columns in INDEXES.items():
		rows = frappe.db.sql("SHOW INDEX FROM `tabPOS Invoice` WHERE Key_name = %s", name, as_dict=True)
		assert [r.Column_name for r in rows] == columns, name
	for method, frequency in (
		("scoopjoy.stock_sync.run_scheduled_sync", "Cron"),
		("scoopjoy.stock_sync.resume_interrupted_runs", "Cron"),
	):
		assert frappe.db.get_value("Scheduled Job Type", {"method": method}, "frequency") == frequency
	assert frappe.db.exists("Workspace", "ScoopJoy")
	assert frappe.db.exists("Custom HTML Block", "ScoopJoy Latest Sync")
	assert frappe.db.get_value("Report", "Outlet Sync Health", "module") == "ScoopJoy"
	for card in ("Pending POS Invoices", "Outlets Failing", "Last Sync Status", "Last Sync Duration"):
		assert frappe.db.get_value("Number Card", card, "module") == "ScoopJoy", card
	assert frappe.db.get_value("Dashboard Chart", "Stock Sync per Day", "source") == "Stock Sync Per Day"
	assert frappe.db.exists("Dashboard Chart Source", "Stock Sync Per Day")
	retention = {r.ref_doctype: r.days for r in frappe.get_doc("Log Settings").logs_to_clear}
	assert retention.get("Stock Sync Log") == 90
	settings = frappe.get_single("ScoopJoy Settings")
	assert (settings.schedule, settings.alert_role, settings.retention_days) == (
		"Hourly",
		"Stock Manager",
		90,
	)


def test_install_creates_everything_it_promises():
	from scoopjoy.scoopjoy.doctype.scoopjoy_settings.scoopjoy_settings import CONSOLIDATE, stock_posting_mode

	assert_schema()
	assert stock_posting_mode() == CONSOLIDATE


def test_install_then_a_first_real_sync_of_the_demo():
	from scoopjoy import demo, erpnext_pos, stock_sync

	frappe.flags.in_test = True  # the report job runs inline, as in the Frappe tier
	if erpnext_pos.offers().has_sales_invoice_mode:  # ERPNext 16: its new sites' default
		frappe.db.set_single_value("POS Settings", "invoice_type", "Sales Invoice")
		with pytest.raises(frappe.ValidationError, match="POS Invoice"):
			demo.build_demo(outlets=2, invoices=2, echo=lambda _: None)
		frappe.db.set_single_value("POS Settings", "invoice_type", "POS Invoice")  # as an operator sets it
	made = demo.build_demo(outlets=2, invoices=2, echo=lambda _: None)
	assert made["invoices_made"] == 2 * 2 + 1  # and the short outlet's sale
	stock_sync.process_stock_sync()
	frappe.db.rollback()
	log = frappe.get_last_doc("Stock Sync Log")
	rows = {row.franchise_name: row for row in log.outlets}
	assert (log.status, log.succeeded, log.failed) == ("Completed with Errors", 2, 2), log.summary
	assert [rows[f"{demo.DEMO} Outlet {i:03d}"].invoices_consolidated for i in (1, 2)] == [2, 2]
	assert "needed in" in rows[f"{demo.DEMO} Outlet Short of Stock"].message
	assert "no franchise warehouse" in rows[f"{demo.DEMO} Outlet Without Warehouse"].message
	assert (
		frappe.db.count(
			"Stock Ledger Entry", {"voucher_no": ("in", [c.sales_invoice for c in log.consolidations])}
		)
		== 4
	)


def test_upgrade_from_the_previous_release_has_the_current_schema():
	assert_schema()
	assert frappe.db.exists("Patch Log", {"patch": "scoopjoy.patches.drop_stock_sync_log_error"})


def test_upgrade_keeps_old_runs_and_consolidates_by_default():
	from scoopjoy.scoopjoy.doctype.scoopjoy_settings.scoopjoy_settings import CONSOLIDATE, stock_posting_mode

	assert frappe.db.get_single_value("ScoopJoy Settings", "stock_posting") in (None, "", CONSOLIDATE)
	assert stock_posting_mode() == CONSOLIDATE
	old = frappe.get_last_doc("Stock Sync Log")  # queued by the previous release before the upgrade
	assert (old.stock_posting or None, old.invoices_consolidated, old.invoices_flagged) == (None, 0, 0)
	assert old.trigger == "CLI" and old.status == "Queued"
	from scoopjoy.liveness import discard_job

	discard_job(old.job_id)  # no worker of this throwaway site will run it


def test_install_then_the_demo_is_removed_with_what_it_posted():
	from scoopjoy import demo

	demo.remove_demo(echo=lambda _: None)
	frappe.db.rollback()
	warehouses = frappe.get_all(
		"Warehouse", filters={"warehouse_name": ("like", f"{demo.DEMO}%")}, pluck="name"
	)
	assert warehouses and all(frappe.db.get_value("Warehouse", w, "disabled") for w in warehouses)
	assert not frappe.get_all("Franchise Agreement", filters={"franchise_name": ("like", f"{demo.DEMO}%")})
	live_stock = frappe.get_all(
		"Stock Ledger Entry", filters={"warehouse": ("in", warehouses), "is_cancelled": 0}, pluck="name"
	)
	assert live_stock == []  # every receipt, sale and issue of the demo cancelled
	assert not frappe.get_all(
		"POS Invoice", filters={"pos_profile": ("like", f"{demo.DEMO}%"), "docstatus": 1}
	)
	assert not frappe.db.exists("Outlet Group", f"{demo.DEMO} North")
