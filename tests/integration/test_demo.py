"""The demo takes back everything it made: a small demo of its own name, synced, then removed, leaves
every table as it found it. ScoopJoy's records are deleted; ERPNext's documents can only be cancelled
(their ledger stays), so for those what is counted is what is still live."""

import pytest

frappe = pytest.importorskip("frappe", reason="Frappe tier skipped: no Frappe bench (FRAPPE_BENCH)")

from scoopjoy import demo, stock_sync  # noqa: E402
from scoopjoy.scoopjoy.doctype.stock_sync_log.stock_sync_log import CHILD_TABLES  # noqa: E402

pytestmark = pytest.mark.consolidating


def demo_rows(name: str, known: dict) -> dict:
	"""Rows of every table the demo or a sync of its outlets writes to. `known`: the outlets and runs
	seen so far, which stay countable once their records are gone."""
	outlets = known["outlets"] | set(
		frappe.get_all("Franchise Agreement", filters={"franchise_name": ("like", f"{name}%")}, pluck="name")
	)
	groups = [f"{name} {region}" for region in demo.REGIONS]
	runs = known["runs"] | set(
		frappe.get_all("Stock Sync Log", filters={"outlet_group": ("in", groups)}, pluck="name")
	)
	known.update(outlets=outlets, runs=runs)
	of_outlets, of_runs = ("in", list(outlets) or [""]), ("in", list(runs) or [""])
	profiles = ("like", f"{name}%")
	live = {"pos_profile": profiles, "docstatus": 1}
	return {
		"Franchise Agreement": frappe.db.count("Franchise Agreement", {"name": of_outlets}),
		"Outlet Group": frappe.db.count("Outlet Group", {"name": ("in", groups)}),
		"Stock Sync Log": frappe.db.count("Stock Sync Log", {"name": of_runs}),
		**{child: frappe.db.count(child, {"parent": of_runs}) for child in CHILD_TABLES},
		"Held POS Sale": frappe.db.count("Held POS Sale", {"outlet": of_outlets}),
		"Outlet Sync Status": frappe.db.count("Outlet Sync Status", {"name": of_outlets}),
		"Error Log": frappe.db.count("Error Log", {"reference_name": ("in", [*outlets, *runs] or [""])}),
		"Notification Log": frappe.db.count(
			"Notification Log", {"document_name": ("in", [*outlets, *runs] or [""])}
		),
		"live POS Invoice": frappe.db.count("POS Invoice", live),
		"live POS Opening Entry": frappe.db.count("POS Opening Entry", live),
		"live POS Closing Entry": frappe.db.count("POS Closing Entry", live),
		"live Sales Invoice": frappe.db.count("Sales Invoice", live),
		"live Stock Entry": frappe.db.count(
			"Stock Entry",
			{
				"docstatus": 1,
				"name": (
					"in",
					frappe.get_all(
						"Stock Entry Detail",
						filters={"t_warehouse": ("like", f"{name}%")},
						pluck="parent",
					)
					or [""],
				),
			},
		),
		"enabled POS Profile": frappe.db.count("POS Profile", {"name": profiles, "disabled": 0}),
		"enabled Warehouse": frappe.db.count("Warehouse", {"warehouse_name": profiles, "disabled": 0}),
		"enabled Item": frappe.db.count("Item", {"name": profiles, "disabled": 0}),
	}


def test_remove_demo_leaves_every_table_as_the_demo_found_it():
	name = f"SJT{frappe.generate_hash(length=6).upper()} Demo"
	known = {"outlets": set(), "runs": set()}
	before = demo_rows(name, known)

	made = demo.build_demo(outlets=2, invoices=2, echo=lambda _: None, name=name)
	for region in demo.REGIONS:
		stock_sync.process_stock_sync(f"{name} {region}")
	frappe.db.commit()
	synced = demo_rows(name, known)

	demo.remove_demo(echo=lambda _: None, name=name)
	after = demo_rows(name, known)

	assert made["outlets"] == 4 and len(known["outlets"]) == 4 and known["runs"]
	# The sync posted, held the short outlet's sale and failed the one without a warehouse.
	assert synced["Stock Sync Log Consolidation"] >= 2 and synced["Stock Sync Log Held Sale"] == 1
	assert synced["Held POS Sale"] == 1 and synced["Outlet Sync Status"] == 4 and synced["Error Log"] >= 1
	assert synced["live POS Opening Entry"] == 3 and synced["live Stock Entry"] >= 3
	assert after == before, {k: (before[k], synced[k], after[k]) for k in before if after[k] != before[k]}
