"""Exactly once while sales are being isolated: a worker killed in the middle of an outlet's split, a
resumed run, overlapping runs and a cashier's POS closing racing the sync. Counted per invoice:
merge-log references, Stock Ledger, and one Held POS Sale per bad sale."""

import time

import pytest

frappe = pytest.importorskip("frappe", reason="Frappe tier skipped: no Frappe bench (FRAPPE_BENCH)")

from scoopjoy import stock_sync  # noqa: E402
from tests.integration.conftest import kill_9, run_burst_worker, start_worker  # noqa: E402
from tests.integration.ledger import assert_consolidated_once, merge_log_refs  # noqa: E402
from tests.integration.world import (  # noqa: E402
	rows,
	someone_sleeping_in_mariadb,
	wait_for_pause,
	wait_until,
)

pytestmark = pytest.mark.consolidating


def outlets_with_a_short_sale(world, count: int, good: int) -> list:
	"""Outlets whose `good` scoop sales have stock and whose one mango sale, in the middle, has not
	(a Material Issue took the mango after the sale)."""
	scoop, mango = world.make_item("SCOOP"), world.make_item("MANGO")
	outlets = []
	for i in range(count):
		outlet = world.make_stocked_outlet(f"H{i:02d}", {scoop: 100, mango: 2})
		outlet.good = [world.sell(outlet, {scoop: 1 + j % 3}) for j in range(good // 2)]
		outlet.bad = world.sell(outlet, {mango: 2})
		outlet.good += [world.sell(outlet, {scoop: 1}) for _ in range(good - good // 2)]
		world.move_stock(outlet.warehouse, {mango: 1}, "Material Issue")
		outlets.append(outlet)
	world.commit()
	return outlets


def assert_each_sale_once(outlets):
	"""Every good sale consolidated once; every bad one not at all, on the held list once."""
	for outlet in outlets:
		assert_consolidated_once(outlet.good, outlet.warehouse)
		assert merge_log_refs(outlet.bad) == 0
		assert frappe.get_all("Held POS Sale", filters={"outlet": outlet.name}, pluck="name") == [outlet.bad]


def worker_done(run: str) -> bool:
	status, awaiting = frappe.db.get_value("Stock Sync Log", run, ["status", "awaiting_report"])
	return bool(awaiting) or status not in ("Queued", "Running")


def wait_for_sleeper(timeout: float = 120):
	wait_until(someone_sleeping_in_mariadb, timeout=timeout, every=0.05)


def test_kill_9_mid_split_then_resume_posts_each_sale_once(world, queues):
	outlets = outlets_with_a_short_sale(world, 3, 6)
	middle = outlets[1]
	# Every Sales Invoice the middle outlet's attempts insert sleeps 1.5 s inside MariaDB.
	world.pause_on(
		"AFTER INSERT", "tabSales Invoice", f"NEW.pos_profile = {frappe.db.escape(middle.pos_profile)}", 1.5
	)
	frappe.flags.in_test = False
	run = stock_sync.enqueue_stock_sync(world.group)["sync_log"]
	worker = start_worker()
	try:
		first = wait_for_pause()  # the first attempt, all 7 sales: it will fail on the mango
		# The next Sales Invoice to pause, after that one: the second attempt, the first half. The
		# split has begun.
		wait_for_pause(other_than=first)
	finally:
		kill_9(worker)
	before = rows(run)
	assert middle.name not in before and outlets[0].name in before, before
	for trigger in world.triggers:
		frappe.db.sql(f"DROP TRIGGER IF EXISTS `{trigger}`")
	world.triggers = []
	# The killed transaction left nothing of the middle outlet: no merge log, no held record.
	assert all(merge_log_refs(invoice) == 0 for invoice in [*middle.good, middle.bad])
	assert frappe.get_all("Held POS Sale", filters={"outlet": middle.name}) == []

	started = time.monotonic()
	while "already running" in (reply := stock_sync.enqueue_stock_sync(world.group))["message"]:
		assert time.monotonic() - started < 10
		time.sleep(0.1)
	assert reply["sync_log"] == run and "resumes" in reply["message"], reply
	run_burst_worker("long,short")

	log = frappe.get_doc("Stock Sync Log", run)
	assert (log.status, log.processed, log.resume_count) == ("Completed with Errors", 3, 1)
	assert (log.invoices_consolidated, log.invoices_held) == (3 * 6, 3)
	assert sorted(h.pos_invoice for h in log.held_sales) == sorted(o.bad for o in outlets)
	assert all(rows(run)[o].name == row.name for o, row in before.items())  # nothing redone
	assert_each_sale_once(outlets)


def test_overlapping_runs_isolate_and_post_each_sale_once(world, queues):
	outlets = outlets_with_a_short_sale(world, 4, 4)
	frappe.flags.in_test = False
	group_run = stock_sync.enqueue_stock_sync(world.group)["sync_log"]
	all_run = stock_sync.enqueue_stock_sync()["sync_log"]
	world.extra_logs.append(all_run)
	workers = [start_worker("long") for _ in range(2)]  # the two runs at once, one per core
	try:
		# The later of the two finds only held sales in our outlets: every one fails, and a run
		# whose every outlet failed is final at once (no report job).
		wait_until(lambda: all(worker_done(r) for r in (group_run, all_run)), timeout=300)
	finally:
		for worker in workers:
			kill_9(worker)
	ours = {o.name for o in outlets}
	by_run = [rows(r) for r in (group_run, all_run)]
	assert sum(row.invoices_consolidated for r in by_run for o, row in r.items() if o in ours) == 4 * 4
	held = [h for r in (group_run, all_run) for h in frappe.get_doc("Stock Sync Log", r).held_sales]
	# Each bad sale held by the one run that took its outlet (the other found nothing pending but it,
	# and held it again: it stays one row on the held list).
	assert {h.pos_invoice for h in held if h.outlet in ours} == {o.bad for o in outlets}
	assert_each_sale_once(outlets)


def test_a_cashiers_closing_racing_a_split_counts_the_syncs_sales_and_each_is_posted_once(world, queues):
	[outlet] = outlets_with_a_short_sale(world, 1, 4)
	# The sync has isolated the outlet and sleeps before its commit, holding the invoices' locks.
	world.pause_on("AFTER INSERT", "tabStock Sync Log Outlet", f"NEW.outlet = '{outlet.name}'", 4)
	frappe.flags.in_test = False
	run = stock_sync.enqueue_stock_sync(world.group)["sync_log"]
	worker = start_worker()
	try:
		wait_for_sleeper()
		# The closing waits for the sync's locks, then finds the good sales posted by the sync
		# (scoopjoy.pos_closing): it consolidates none of them and closes the shift.
		closing = world.close_pos_shift(outlet, outlet.good)
		wait_until(lambda: frappe.db.get_value("Stock Sync Log", run, "awaiting_report"))
	finally:
		kill_9(worker)
	frappe.db.rollback()
	assert frappe.db.get_value("POS Closing Entry", closing, "status") == "Submitted"
	assert not frappe.db.exists("POS Invoice Merge Log", {"pos_closing_entry": closing, "docstatus": 1})
	row = rows(run)[outlet.name]
	assert (row.invoices_consolidated, row.invoices_held) == (4, 1)
	assert_each_sale_once([outlet])
