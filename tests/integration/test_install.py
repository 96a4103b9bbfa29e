"""The app as installed on the site: DocTypes, the custom field with its index, fixtures, hooks."""

import pytest

frappe = pytest.importorskip("frappe", reason="Frappe tier skipped: no Frappe bench (FRAPPE_BENCH)")


def test_app_is_installed_with_its_doctypes():
	assert "scoopjoy" in frappe.get_installed_apps()
	for doctype in ("Outlet Group", "Franchise Agreement", "Stock Sync Log", "Stock Sync Log Outlet"):
		assert frappe.db.get_value("DocType", doctype, "module") == "ScoopJoy"
	assert frappe.get_meta("Franchise Agreement").is_submittable
	assert frappe.get_meta("Stock Sync Log Outlet").istable
	statuses = frappe.get_meta("Franchise Agreement").get_field("agreement_status")
	assert (statuses.options.split("\n"), statuses.default) == (
		["Active", "Suspended", "Terminated"],
		"Active",
	)


def test_custom_field_from_fixture_with_database_index():
	field = frappe.get_doc("Custom Field", "POS Invoice-custom_stock_synced")
	assert (field.fieldtype, field.default, field.read_only, field.no_copy, field.module) == (
		"Check",
		"0",
		1,
		1,
		"ScoopJoy",
	)
	indexes = frappe.db.sql(
		"SHOW INDEX FROM `tabPOS Invoice` WHERE Column_name = 'custom_stock_synced'", as_dict=True
	)
	assert indexes, "the sync filters on custom_stock_synced, so it needs an index"
	pending = frappe.db.sql(
		"SHOW INDEX FROM `tabPOS Invoice` WHERE Key_name = 'scoopjoy_pending_sync'", as_dict=True
	)
	assert [i.Column_name for i in pending] == ["set_warehouse", "custom_stock_synced", "docstatus"]


def test_stock_sync_log_is_read_only_for_users():
	meta = frappe.get_meta("Stock Sync Log")
	assert meta.in_create  # created by the system only
	assert not any(p.create or p.write for p in meta.permissions)
	assert all(
		field.read_only for field in meta.fields if field.fieldtype not in ("Section Break", "Column Break")
	)


def test_hooks_wire_desk_and_scheduler():
	assert frappe.get_hooks("doctype_list_js", app_name="scoopjoy")["Franchise Agreement"] == [
		"public/js/franchise_agreement_list.js"
	]
	assert "/assets/scoopjoy/js/stock_sync_listener.js" in frappe.get_hooks("app_include_js")
	for method in ("run_scheduled_sync", "resume_interrupted_runs"):
		job = frappe.get_doc("Scheduled Job Type", {"method": f"scoopjoy.stock_sync.{method}"})
		assert (job.frequency, job.cron_format) == ("Cron", "*/5 * * * *"), method
	assert frappe.get_hooks("doctype_js", app_name="scoopjoy")["Stock Sync Log"] == [
		"public/js/stock_sync_log.js"
	]
	assert frappe.get_hooks("required_apps", app_name="scoopjoy") == ["frappe/erpnext"]


def test_drop_stock_sync_log_error_patch_ran():
	assert not frappe.db.exists("DocType", "Stock Sync Log Error")
	assert frappe.db.exists("Patch Log", {"patch": "scoopjoy.patches.drop_stock_sync_log_error"})


def test_outlet_group_named_all_is_refused():
	with pytest.raises(frappe.ValidationError):
		frappe.get_doc({"doctype": "Outlet Group", "outlet_group_name": "All"}).insert()
	assert not frappe.db.exists("Outlet Group", "All")


def test_settings_refuse_a_stale_threshold_that_would_fence_live_workers():
	from scoopjoy.scoopjoy.doctype.scoopjoy_settings.scoopjoy_settings import stale_after

	settings = frappe.get_single("ScoopJoy Settings")
	settings.stale_after = 3
	with pytest.raises(frappe.ValidationError, match="must be between 10 and 3600"):
		settings.save()
	frappe.db.rollback()
	assert stale_after() == (frappe.db.get_single_value("ScoopJoy Settings", "stale_after") or 60)
	frappe.local.conf["scoopjoy_stale_after"] = 7  # the site config key overrides the form
	try:
		assert stale_after() == 7
	finally:
		frappe.local.conf.pop("scoopjoy_stale_after")
