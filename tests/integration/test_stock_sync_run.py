"""A full run over 500 outlets on the real site, with bad outlets among them."""

import pytest

frappe = pytest.importorskip("frappe", reason="Frappe tier skipped: no Frappe bench (FRAPPE_BENCH)")

from scoopjoy import stock_posting, stock_sync  # noqa: E402
from tests.integration.world import chunks_of  # noqa: E402

GOOD_OUTLETS = 494


@pytest.fixture
def five_hundred_outlets(world):
	"""494 good outlets (2 pending invoices each; one with 250), 2 without a warehouse, 2 whose
	warehouse is disabled, 1 whose warehouse was deleted, 1 that fails half-way through its update."""
	good = []
	for i in range(GOOD_OUTLETS):
		outlet = world.make_outlet(f"Good {i:03d}", world.make_warehouse(f"Good {i:03d}"))
		pending = {7: 250, 8: 2 * stock_posting.PAGE_SIZE + 7}.get(i, 2)  # 8: three pages
		world.make_pending_invoices(outlet.warehouse, pending)
		good.append(outlet)
	bad = {
		"no warehouse": [world.make_outlet(f"No WH {i}", None) for i in range(2)],
		"disabled": [
			world.make_outlet(f"Disabled {i}", world.make_warehouse(f"Off {i}", disabled=1)) for i in range(2)
		],
		"missing": [world.make_outlet("Missing WH", world.make_warehouse("Gone"))],
	}
	for outlet in bad["disabled"]:
		world.make_pending_invoices(outlet.warehouse, 3)
	frappe.db.set_value(
		"Franchise Agreement", bad["missing"][0].name, "franchise_warehouse", "No Such Warehouse"
	)

	half = world.make_outlet("Half Way", world.make_warehouse("Half Way"))
	half_invoices = world.make_pending_invoices(half.warehouse, 3 * stock_posting.PAGE_SIZE - 50)
	world.fail_update_of(half_invoices[-1])  # the last page fails after two pages were flagged
	bad["half way"] = [half]

	# Not to be touched: drafts, an inactive outlet, an outlet of another group.
	world.make_pending_invoices(good[0].warehouse, 4, docstatus=0)
	suspended = world.make_outlet("Suspended", world.make_warehouse("Suspended"), status="Suspended")
	world.make_pending_invoices(suspended.warehouse, 5)
	other = world.make_outlet("Other Group", world.make_warehouse("Other"), group=world.make_group("-other"))
	world.make_pending_invoices(other.warehouse, 5)
	world.commit()
	return frappe._dict(good=good, bad=bad, suspended=suspended, other=other)


def test_500_outlets_good_synced_bad_reported_half_failed_untouched(world, five_hundred_outlets):
	o = five_hundred_outlets
	stock_sync.process_stock_sync(world.group)

	assert all(world.unsynced(outlet.warehouse) == 0 for outlet in o.good)
	assert world.synced(o.good[7].warehouse) == 250  # more than the seed's 100, all in one run
	assert world.synced(o.good[8].warehouse) == 2 * stock_posting.PAGE_SIZE + 7  # three pages
	half = o.bad["half way"][0]
	assert world.synced(half.warehouse) == 0, "a failed outlet must leave no partial writes"
	assert world.unsynced(half.warehouse) == 3 * stock_posting.PAGE_SIZE - 50
	for outlet in o.bad["disabled"]:
		assert world.synced(outlet.warehouse) == 0
	assert world.synced(o.suspended.warehouse) == 0
	assert world.synced(o.other.warehouse) == 0
	drafts = frappe.db.count("POS Invoice", {"set_warehouse": o.good[0].warehouse, "docstatus": 0})
	assert drafts == 4 and world.unsynced(o.good[0].warehouse) == 0
	assert (
		frappe.db.count(
			"POS Invoice", {"set_warehouse": o.good[0].warehouse, "docstatus": 0, "custom_stock_synced": 1}
		)
		== 0
	)

	[log_name] = world.logs()
	log = frappe.get_doc("Stock Sync Log", log_name)
	assert (log.status, log.total_outlets, log.succeeded, log.failed) == (
		"Completed with Errors",
		500,
		494,
		6,
	)
	assert log.invoices_synced == 492 * 2 + 250 + 2 * stock_posting.PAGE_SIZE + 7
	assert (log.trigger, log.triggered_by, log.job_id) == (
		"CLI",
		"Administrator",
		f"scoopjoy_stock_sync::{world.group}",
	)
	assert log.ended_on and log.duration is not None and "494 of 500" in log.summary

	assert log.processed == 500 and len(log.outlets) == 500
	assert len({row.outlet for row in log.outlets}) == 500  # every outlet exactly once
	errors = {row.outlet: row.message for row in log.outlets if row.result == "Failed"}
	bad_names = {outlet.name for outlets in o.bad.values() for outlet in outlets}
	assert set(errors) == bad_names
	synced_rows = {row.outlet: row.invoices_synced for row in log.outlets if row.result == "Synced"}
	assert synced_rows[o.good[7].name] == 250 and synced_rows[o.good[0].name] == 2
	assert all("no franchise warehouse" in errors[outlet.name] for outlet in o.bad["no warehouse"])
	assert all("is disabled" in errors[outlet.name] for outlet in o.bad["disabled"])
	assert "does not exist" in errors[o.bad["missing"][0].name]
	assert "injected failure" in errors[half.name]
	assert half.franchise_name in {row.franchise_name for row in log.outlets if row.result == "Failed"}

	# Every failure is also in Frappe's Error Log, with its traceback.
	error_logs = frappe.get_all(
		"Error Log", filters={"reference_name": ("in", list(bad_names))}, fields=["reference_name", "error"]
	)
	assert {e.reference_name for e in error_logs} == bad_names
	assert all("Traceback" in e.error for e in error_logs)


def test_rerun_syncs_only_new_invoices(world):
	outlet = world.make_selling_outlet("Rerun", 3)
	world.commit()
	stock_sync.process_stock_sync(world.group)
	world.make_pending_invoices(outlet.warehouse, 2)
	world.commit()
	stock_sync.process_stock_sync(world.group)

	first, second = (frappe.get_doc("Stock Sync Log", name) for name in world.logs())
	assert (first.invoices_synced, second.invoices_synced) == (3, 2)
	assert second.status == "Completed"


def test_all_outlets_failing_is_a_failed_run(world):
	world.make_outlet("Nowhere", None)
	world.commit()
	stock_sync.process_stock_sync(world.group)
	[log_name] = world.logs()
	log = frappe.get_doc("Stock Sync Log", log_name)
	assert (log.status, log.succeeded, log.failed) == ("Failed", 0, 1)


def test_pos_invoice_made_through_erpnext_is_synced(world):
	outlet = world.make_outlet("Real POS", world.make_warehouse("Real POS"))
	invoice = world.make_erpnext_invoice(outlet.warehouse)
	world.commit()
	doc = frappe.get_doc("POS Invoice", invoice)
	assert (doc.docstatus, doc.set_warehouse, doc.custom_stock_synced) == (1, outlet.warehouse, 0)

	stock_sync.process_stock_sync(world.group)

	assert frappe.db.get_value("POS Invoice", invoice, "custom_stock_synced") == 1
	# A system flag, not an edit of the invoice.
	assert frappe.db.get_value("POS Invoice", invoice, "modified") == doc.modified


def test_a_mark_only_chunk_taken_one_by_one_commits_early_once_its_time_is_up(world, site_config):
	"""Mark-only outlets that cannot be marked at once (two share a warehouse) are taken one by one;
	past scoopjoy_chunk_seconds the chunk commits, and the next chunk (now without the pair) is marked
	at once."""
	shared = world.make_warehouse("Shared")
	outlets = [
		world.make_outlet(f"T{i}", shared if i < 2 else world.make_warehouse(f"T{i}")) for i in range(5)
	]
	world.make_pending_invoices(shared, 4)
	for outlet in outlets[2:]:
		world.make_pending_invoices(outlet.warehouse, 2)
	condition = f"NEW.set_warehouse LIKE '{world.tag}%' AND NEW.custom_stock_synced = 1"
	world.pause_on("BEFORE UPDATE", "tabPOS Invoice", condition, 0.2)  # 0.8 s for the shared four
	site_config("scoopjoy_chunk_seconds", 0.5)

	stock_sync.process_stock_sync(world.group)
	frappe.db.rollback()
	chunks = chunks_of(world.logs()[-1])
	assert [len(chunks[created]) for created in sorted(chunks)] == [1, 4], chunks
	assert all(world.unsynced(w) == 0 for w in {o.warehouse for o in outlets})
