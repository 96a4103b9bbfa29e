"""Framework-free checks of the app as shipped: they read files, never import frappe."""

import ast
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "scoopjoy"
DOCTYPES = APP / "scoopjoy" / "doctype"


def doctype(name: str) -> dict:
	folder = name.lower().replace(" ", "_")
	return json.loads((DOCTYPES / folder / f"{folder}.json").read_text())


def hooks() -> dict:
	tree = ast.parse((APP / "hooks.py").read_text())
	return {
		node.targets[0].id: ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
	}


@pytest.mark.parametrize(
	"name",
	[
		"Outlet Group",
		"Franchise Agreement",
		"Stock Sync Log",
		"Stock Sync Log Outlet",
		"Stock Sync Log Consolidation",
		"Outlet Sync Status",
		"ScoopJoy Settings",
		"Shift Stock Posting",
		"Stock Sync Log Held Sale",
		"Held POS Sale",
	],
)
def test_doctype_json_is_complete_and_consistent(name):
	meta = doctype(name)
	assert (meta["name"], meta["module"], meta["doctype"]) == (name, "ScoopJoy", "DocType")
	assert meta["field_order"] == [f["fieldname"] for f in meta["fields"]]
	folder = DOCTYPES / name.lower().replace(" ", "_")
	assert (folder / "__init__.py").exists()
	controller = (folder / f"{folder.name}.py").read_text()
	assert f"class {name.replace(' ', '')}(Document)" in controller


def test_franchise_agreement_fields_match_the_design():
	meta = doctype("Franchise Agreement")
	fields = {f["fieldname"]: f for f in meta["fields"]}
	assert meta["is_submittable"] == 1
	assert fields["franchise_name"]["reqd"] == 1
	assert (fields["franchise_warehouse"]["options"], fields["territory"]["options"]) == (
		"Warehouse",
		"Territory",
	)
	assert fields["outlet_group"]["options"] == "Outlet Group"
	assert fields["agreement_status"]["options"].split("\n") == ["Active", "Suspended", "Terminated"]
	assert fields["agreement_status"]["default"] == "Active"
	assert fields["amended_from"]["options"] == "Franchise Agreement"


def test_stock_sync_log_records_what_a_reader_needs():
	meta = doctype("Stock Sync Log")
	fields = {f["fieldname"]: f for f in meta["fields"]}
	for fieldname in (
		"sync_datetime",
		"outlet_group",
		"status",
		"total_outlets",
		"succeeded",
		"failed",
		"invoices_synced",
		"trigger",
		"triggered_by",
		"job_id",
		"outlets",
	):
		assert fieldname in fields, fieldname
	assert fields["outlets"]["options"] == "Stock Sync Log Outlet"
	assert fields["status"]["options"].split("\n") == [
		"Queued",
		"Running",
		"Completed",
		"Completed with Errors",
		"Failed",
		"Cancelled",
		"Interrupted",
	]
	assert fields["trigger"]["options"].split("\n") == ["Desk", "Scheduler", "CLI", "Stock In"]
	assert fields["held_sales"]["options"] == "Stock Sync Log Held Sale"
	assert meta["in_create"] == 1
	assert not any(p.get("create") or p.get("write") for p in meta["permissions"])
	child = {f["fieldname"] for f in doctype("Stock Sync Log Outlet")["fields"]}
	counters = {"invoices_synced", "invoices_consolidated", "invoices_flagged", "invoices_held", "stock_qty"}
	assert child == {"outlet", "franchise_name", "result", "attempts", "message", *counters}
	assert counters <= set(fields)
	assert fields["consolidations"]["options"] == "Stock Sync Log Consolidation"
	links = {f["fieldname"]: f.get("options") for f in doctype("Stock Sync Log Consolidation")["fields"]}
	assert links == {
		"outlet": "Franchise Agreement",
		"merge_log": "POS Invoice Merge Log",
		"sales_invoice": "Sales Invoice",
		"credit_note": "Sales Invoice",
		"invoices": None,
		"stock_qty": None,
	}


def test_scoopjoy_settings_offers_the_two_posting_modes_consolidating_by_default():
	meta = doctype("ScoopJoy Settings")
	[mode] = [f for f in meta["fields"] if f["fieldname"] == "stock_posting"]
	assert meta["issingle"] == 1
	assert mode["options"].split("\n") == ["Consolidate into stock ledger", "Mark invoices only"]
	assert mode["default"] == "Consolidate into stock ledger"
	[stale] = [f for f in meta["fields"] if f["fieldname"] == "stale_after"]
	assert (stale["fieldtype"], stale["default"]) == ("Int", "60")
	assert "scoopjoy_stale_after" in stale["description"]  # the site config key that overrides it


def test_custom_field_fixture_is_indexed_and_owned_by_the_module():
	[field] = json.loads((APP / "fixtures" / "custom_field.json").read_text())
	assert (field["dt"], field["fieldname"], field["fieldtype"]) == (
		"POS Invoice",
		"custom_stock_synced",
		"Check",
	)
	assert (field["default"], field["read_only"], field["no_copy"], field["search_index"]) == ("0", 1, 1, 1)
	assert field["module"] == "ScoopJoy"
	assert field["name"] == "POS Invoice-custom_stock_synced"


def test_pos_closing_fields_are_owned_by_the_module_and_written_after_submit():
	fields = json.loads((APP / "fixtures" / "pos_closing_entry_custom_field.json").read_text())
	assert {f["module"] for f in fields} == {"ScoopJoy"} and {f["dt"] for f in fields} == {
		"POS Closing Entry"
	}
	by_name = {f["fieldname"]: f for f in fields}
	assert by_name["custom_stock_postings"]["options"] == "Shift Stock Posting"
	for fieldname in ("custom_stock_postings", "custom_stock_posting_note"):
		assert (by_name[fieldname]["allow_on_submit"], by_name[fieldname]["read_only"]) == (1, 1)
	assert doctype("Shift Stock Posting")["istable"] == 1
	h = hooks()
	assert h["override_doctype_class"] == {"POS Closing Entry": "scoopjoy.pos_closing.ShiftClosing"}
	assert h["override_whitelisted_methods"] == {  # the closing form's listing in ERPNext 15, and in 16
		"erpnext.accounts.doctype.pos_closing_entry.pos_closing_entry.get_pos_invoices": (
			"scoopjoy.pos_closing.get_pos_invoices"
		),
		"erpnext.accounts.doctype.pos_closing_entry.pos_closing_entry.get_invoices": (
			"scoopjoy.pos_closing.get_invoices"
		),
	}


def test_hooks_declare_fixtures_scheduler_and_desk_code():
	h = hooks()
	assert h["required_apps"] == ["frappe/erpnext"]
	assert h["fixtures"] == [
		{"dt": "Custom Field", "filters": [["module", "=", "ScoopJoy"]]},
		{"dt": "Custom HTML Block", "filters": [["name", "=", "ScoopJoy Latest Sync"]]},
	]
	assert h["default_log_clearing_doctypes"] == {"Stock Sync Log": 90}
	assert h["scheduler_events"] == {
		"cron": {
			"*/5 * * * *": [
				"scoopjoy.stock_sync.run_scheduled_sync",
				"scoopjoy.stock_sync.resume_interrupted_runs",
			]
		}
	}
	for path in [*h["doctype_list_js"].values(), *h["doctype_js"].values()]:
		assert (APP / path).exists()
	assert (APP / "public" / h["app_include_js"].removeprefix("/assets/scoopjoy/")).exists()
	assert (APP / "modules.txt").read_text().split() == ["ScoopJoy"]


def test_pyproject_bounds_frappe_to_the_versions_proven():
	"""From the oldest Frappe 15 CI proves the app on (15.55.1) through 16 (CI proves 16.10.7)."""
	config = tomllib.loads((ROOT / "pyproject.toml").read_text())
	assert config["tool"]["bench"]["frappe-dependencies"]["frappe"] == ">=15.55.1,<17.0.0"


@pytest.mark.skipif(not shutil.which("node"), reason="node is not installed: JS syntax not checked")
@pytest.mark.parametrize("script", sorted(p.name for p in (APP / "public" / "js").glob("*.js")))
def test_desk_scripts_parse(script):
	result = subprocess.run(
		["node", "--check", str(APP / "public" / "js" / script)], capture_output=True, text=True
	)
	assert result.returncode == 0, result.stderr


def test_workspace_shows_its_shortcuts_and_the_latest_run_panel():
	workspace = json.loads((APP / "scoopjoy" / "workspace" / "scoopjoy" / "scoopjoy.json").read_text())
	assert (workspace["name"], workspace["module"], workspace["public"]) == ("ScoopJoy", "ScoopJoy", 1)
	blocks = json.loads(workspace["content"])
	shortcuts = {s["label"]: s.get("link_to") or s["url"] for s in workspace["shortcuts"]}
	assert shortcuts == {
		"Franchise Agreements": "Franchise Agreement",
		"Outlet Groups": "Outlet Group",
		"Stock Sync Logs": "Stock Sync Log",
		"Outlet Sync Health": "Outlet Sync Health",
		# A URL: Frappe 15.101's workspace counts every DocType shortcut, which fails on a Single.
		"ScoopJoy Settings": "/app/scoopjoy-settings",
	}
	assert {b["data"]["shortcut_name"] for b in blocks if b["type"] == "shortcut"} == set(shortcuts)
	[panel] = [b["data"]["custom_block_name"] for b in blocks if b["type"] == "custom_block"]
	[fixture] = json.loads((APP / "fixtures" / "custom_html_block.json").read_text())
	assert panel == fixture["name"] == workspace["custom_blocks"][0]["custom_block_name"]
	assert "Stock Sync Log" in fixture["script"] and "root_element" in fixture["script"]


def test_user_facing_js_text_is_translated():
	"""Every alert, button and label string in the Desk scripts goes through __()."""
	for script in (APP / "public" / "js").glob("*.js"):
		text = script.read_text()
		for call in ("add_custom_button(", "add_inner_button(", "label: ", "description: "):
			for chunk in text.split(call)[1:]:
				assert chunk.lstrip().startswith("__("), f"{script.name}: {call}{chunk[:40]}"


def test_settings_describe_every_knob_and_the_site_config_key_that_overrides_it():
	fields = {f["fieldname"]: f for f in doctype("ScoopJoy Settings")["fields"]}
	for field, key in {
		"time_budget": "scoopjoy_sync_time_budget",
		"chunk_seconds": "scoopjoy_chunk_seconds",
		"lock_wait_timeout": "scoopjoy_lock_wait_timeout",
		"fan_out_threshold": "scoopjoy_fan_out_threshold",
		"fan_out_batch": "scoopjoy_fan_out_batch",
		"stale_after": "scoopjoy_stale_after",
	}.items():
		assert key in fields[field]["description"], field
	assert (fields["schedule"]["options"].split("\n"), fields["schedule"]["default"]) == (
		["Off", "Every 5 minutes", "Every 15 minutes", "Hourly", "Daily"],
		"Hourly",
	)
	assert (fields["alert_role"]["options"], fields["alert_role"]["default"]) == ("Role", "Stock Manager")
	assert fields["retention_days"]["default"] == "90"
	inputs = [f for f in fields.values() if f["fieldtype"] not in ("Section Break", "Column Break")]
	assert all(f.get("description") for f in inputs)


def test_the_time_budget_cannot_reach_the_job_timeout():
	settings = (APP / "scoopjoy" / "doctype" / "scoopjoy_settings" / "scoopjoy_settings.py").read_text()
	limits = next(
		ast.literal_eval(node.value)
		for node in ast.parse(settings).body
		if isinstance(node, ast.Assign) and node.targets[0].id == "LIMITS"
	)
	flow = ast.parse((APP / "stock_sync.py").read_text())
	job_timeout = next(
		ast.literal_eval(node.value)
		for node in flow.body
		if isinstance(node, ast.Assign) and node.targets[0].id == "JOB_TIMEOUT"
	)
	assert limits["time_budget"][3] < job_timeout


def test_workspace_shows_cards_and_chart_that_the_app_ships():
	workspace = json.loads((APP / "scoopjoy" / "workspace" / "scoopjoy" / "scoopjoy.json").read_text())
	blocks = json.loads(workspace["content"])
	cards = [b["data"]["number_card_name"] for b in blocks if b["type"] == "number_card"]
	charts = [b["data"]["chart_name"] for b in blocks if b["type"] == "chart"]
	assert len(cards) == 4 and charts == ["Stock Sync per Day"]
	for name in cards:
		folder = name.lower().replace(" ", "_")
		card = json.loads((APP / "scoopjoy" / "number_card" / folder / f"{folder}.json").read_text())
		assert (card["type"], card["is_standard"], card["module"]) == ("Custom", 1, "ScoopJoy")
		assert card["method"].startswith("scoopjoy.dashboard.")
	chart = json.loads(
		(APP / "scoopjoy" / "dashboard_chart" / "stock_sync_per_day" / "stock_sync_per_day.json").read_text()
	)
	assert (chart["chart_type"], chart["source"]) == ("Custom", "Stock Sync Per Day")
	source = APP / "scoopjoy" / "dashboard_chart_source" / "stock_sync_per_day" / "stock_sync_per_day.js"
	assert "scoopjoy.dashboard.stock_sync_per_day" in source.read_text()
	report = json.loads(
		(APP / "scoopjoy" / "report" / "outlet_sync_health" / "outlet_sync_health.json").read_text()
	)
	assert {r["role"] for r in report["roles"]} == {"System Manager", "Stock Manager"}
