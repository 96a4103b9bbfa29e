"""Stock posting under the failures and races a real site sees: a worker killed mid-consolidation,
overlapping runs, a cashier's POS closing for the same invoices, cashiers selling mid-chunk, fan-out,
cancel. Each ends by counting, per invoice, merge-log references and stock ledger quantities."""

import time

import pytest

frappe = pytest.importorskip("frappe", reason="Frappe tier skipped: no Frappe bench (FRAPPE_BENCH)")

from scoopjoy import stock_sync  # noqa: E402
from tests.integration.conftest import kill_9, run_burst_worker, start_worker  # noqa: E402
from tests.integration.ledger import (  # noqa: E402
	assert_consolidated_once,
	assert_untouched,
	merge_log_refs,
	stock_moved_by_sales,
)
from tests.integration.world import (  # noqa: E402
	RealtimeRecorder,
	all_and_group_at_once,
	in_own_connection,
	lock_holder_paused,
	processed,
	rows,
	someone_sleeping_in_mariadb,
	wait_until,
)

pytestmark = pytest.mark.consolidating


def stocked_outlets(world, count: int, invoices: int, group: str | None = None) -> list:
	scoop = world.make_item("SCOOP")
	outlets = []
	for i in range(count):
		outlet = world.make_stocked_outlet(f"P{i:02d}", {scoop: 100}, group)
		outlet.invoices = [world.sell(outlet, {scoop: 1 + j % 3}) for j in range(invoices)]
		outlets.append(outlet)
	world.commit()
	return outlets


def wait_for_sleeper(timeout: float = 120):
	wait_until(someone_sleeping_in_mariadb, timeout=timeout, every=0.05)


def test_kill_9_while_consolidating_then_resume_posts_each_invoice_once(world, queues, site_config):
	outlets = stocked_outlets(world, 8, 3)
	site_config("scoopjoy_chunk_seconds", 0.01)  # a commit after every outlet
	# Each outlet's Sales Invoice pauses inside MariaDB just after its INSERT: the kill lands there,
	# mid-consolidation, not between an outlet's commit and the next outlet.
	profiles = ", ".join(frappe.db.escape(outlet.pos_profile) for outlet in outlets)
	world.pause_on("AFTER INSERT", "tabSales Invoice", f"NEW.pos_profile IN ({profiles})", 1)
	frappe.flags.in_test = False
	run = stock_sync.enqueue_stock_sync(world.group)["sync_log"]
	lock = frappe.get_doc("Stock Sync Log", run).lock_name
	worker = start_worker()
	try:
		wait_until(
			lambda: processed(run) >= 2 and lock_holder_paused([lock]),
			what="the run's worker never paused inside a third outlet's consolidation",
		)
	finally:
		kill_9(worker)
	for trigger in world.triggers:  # the resumed run need not be slow
		frappe.db.sql(f"DROP TRIGGER IF EXISTS `{trigger}`")
	world.triggers = []
	before = rows(run)
	assert 2 <= len(before) < 8, "the kill must land mid-run"

	started = time.monotonic()
	while "already running" in (reply := stock_sync.enqueue_stock_sync(world.group))["message"]:
		assert time.monotonic() - started < 5
		time.sleep(0.1)
	assert reply["sync_log"] == run and "resumes" in reply["message"], reply
	run_burst_worker("long,short")

	log = frappe.get_doc("Stock Sync Log", run)
	assert (log.status, log.processed, log.resume_count) == ("Completed", 8, 1)
	assert log.invoices_consolidated == 8 * 3 and len(log.consolidations) == 8
	assert all(rows(run)[o].name == row.name for o, row in before.items())  # nothing redone
	for outlet in outlets:
		assert_consolidated_once(outlet.invoices, outlet.warehouse)


def test_overlapping_runs_consolidate_each_invoice_once(world, queues):
	outlets = stocked_outlets(world, 6, 2)
	group_run, all_run = all_and_group_at_once(world)

	ours = {o.name for o in outlets}
	consolidated = [
		row.invoices_consolidated for r in (group_run, all_run) for o, row in rows(r).items() if o in ours
	]
	assert sum(consolidated) == 6 * 2  # each invoice consolidated by exactly one of the two runs
	for outlet in outlets:
		assert_consolidated_once(outlet.invoices, outlet.warehouse)


def test_a_cashiers_closing_racing_a_sync_that_holds_the_invoices_counts_them_as_the_syncs(world, queues):
	[outlet] = stocked_outlets(world, 1, 2)
	# The sync has consolidated the outlet and sleeps before its chunk commits, holding the locks.
	world.pause_on("AFTER INSERT", "tabStock Sync Log Outlet", f"NEW.outlet = '{outlet.name}'", 4)
	frappe.flags.in_test = False
	run = stock_sync.enqueue_stock_sync(world.group)["sync_log"]
	worker = start_worker()
	try:
		wait_for_sleeper()
		# The closing waits for the sync's locks, then finds the invoices posted by the sync
		# (scoopjoy.pos_closing): it consolidates none of them and closes the shift.
		closing = world.close_pos_shift(outlet, outlet.invoices)
		wait_until(lambda: frappe.db.get_value("Stock Sync Log", run, "awaiting_report"))
	finally:
		kill_9(worker)
	assert frappe.db.get_value("POS Closing Entry", closing, "status") == "Submitted"
	assert not frappe.db.exists("POS Invoice Merge Log", {"pos_closing_entry": closing, "docstatus": 1})
	assert rows(run)[outlet.name].invoices_consolidated == 2
	assert_consolidated_once(outlet.invoices, outlet.warehouse)


def test_a_sync_racing_a_cashiers_closing_that_holds_the_invoices_only_marks_them(world):
	[outlet] = stocked_outlets(world, 1, 2)
	# The cashier's closing has linked the first invoice and sleeps before the second.
	last = outlet.invoices[-1]
	world.pause_on(
		"BEFORE UPDATE",
		"tabPOS Invoice",
		f"@scoopjoy_hold_closing = 1 AND NEW.name = '{last}' AND NEW.consolidated_invoice IS NOT NULL",
		3,
	)

	def cashier_closes_the_shift():
		frappe.db.sql("SET @scoopjoy_hold_closing = 1")  # only this connection's closing sleeps
		world.close_pos_shift(outlet, outlet.invoices)

	cashier = in_own_connection(cashier_closes_the_shift)
	wait_for_sleeper()
	stock_sync.process_stock_sync(world.group)  # waits for the closing's locks, then reads its result
	cashier.join(timeout=60)
	frappe.db.rollback()
	assert cashier.error is None, cashier.error

	row = rows(world.logs()[-1])[outlet.name]
	assert (row.result, row.invoices_consolidated, row.invoices_flagged) == ("Synced", 0, 2)
	assert_consolidated_once(outlet.invoices, outlet.warehouse)


def test_a_cashier_of_the_next_outlet_sells_mid_chunk_unblocked_and_the_run_consolidates_it(world):
	first, second = stocked_outlets(world, 2, 1)
	slow = world.make_customer("Slow")
	first.invoices.append(world.sell(first, {world.make_item("SCOOP"): 1}, customer=slow))
	world.commit()
	# The chunk is busy with the first outlet (its merge log for "Slow" sleeps) when a cashier of
	# the second outlet submits an invoice. Under REPEATABLE READ the chunk's next-key locks would
	# make that cashier wait for the chunk's commit, and the invoice would miss this run.
	world.pause_on("BEFORE INSERT", "tabPOS Invoice Merge Log", f"NEW.customer = '{slow}'", 3)

	def cashier_sells():
		wait_for_sleeper()
		second.invoices.append(world.sell(second, {world.make_item("SCOOP"): 2}))

	cashier = in_own_connection(cashier_sells)
	stock_sync.process_stock_sync(world.group)
	cashier.join(timeout=60)
	frappe.db.rollback()
	assert cashier.error is None, cashier.error

	result = rows(world.logs()[-1])
	assert (result[second.name].result, result[second.name].invoices_consolidated) == ("Synced", 2)
	assert_consolidated_once(second.invoices, second.warehouse)
	assert_consolidated_once(first.invoices, first.warehouse)


def test_fan_out_with_posting_two_workers_one_run_each_invoice_once(world, queues, site_config):
	outlets = stocked_outlets(world, 6, 2)
	site_config("scoopjoy_fan_out_threshold", 1)
	site_config("scoopjoy_fan_out_batch", 2)
	frappe.flags.in_test = False
	recorder = RealtimeRecorder()
	run = stock_sync.enqueue_stock_sync(world.group)["sync_log"]
	assert "already running" in stock_sync.enqueue_stock_sync(world.group)["message"]
	workers = [start_worker("long,short") for _ in range(2)]
	try:
		wait_until(lambda: frappe.db.get_value("Stock Sync Log", run, "status") == "Completed", timeout=300)
		# Published after the finishing batch's commit: the workers live until it is out.
		recorder.wait_for(
			lambda m: m["event"] == stock_sync.COMPLETE_EVENT and m["message"]["sync_log"] == run,
			what=f"announcing {run} complete",
		)
	finally:
		for worker in workers:
			kill_9(worker)
	messages = recorder.stop(about=(run,))

	log = frappe.get_doc("Stock Sync Log", run)
	assert (log.fan_out_jobs, log.fan_out_done, log.processed, log.invoices_consolidated) == (3, 3, 6, 12)
	assert len([m for m in messages if m["event"] == stock_sync.COMPLETE_EVENT]) == 1
	for outlet in outlets:
		assert_consolidated_once(outlet.invoices, outlet.warehouse)


def test_cancel_while_posting_keeps_posted_outlets_and_leaves_the_rest_untouched(world, queues, site_config):
	outlets = stocked_outlets(world, 6, 1)
	site_config("scoopjoy_chunk_seconds", 0.01)
	world.pause_on("BEFORE INSERT", "tabPOS Invoice Merge Log", "1 = 1", 1)  # every outlet takes a second
	frappe.flags.in_test = False
	run = stock_sync.enqueue_stock_sync(world.group)["sync_log"]
	worker = start_worker("long,short")
	try:
		wait_until(lambda: processed(run) >= 1)
		stock_sync.cancel_stock_sync(run)
		wait_until(lambda: frappe.db.get_value("Stock Sync Log", run, "status") == "Cancelled", timeout=60)
	finally:
		kill_9(worker)

	done = rows(run)
	assert 1 <= len(done) < 6
	for outlet in outlets:
		if outlet.name in done:
			assert_consolidated_once(outlet.invoices, outlet.warehouse)
		else:
			assert_untouched(outlet.invoices, outlet.warehouse)
	assert sum(merge_log_refs(i) for o in outlets for i in o.invoices) == len(done)
	assert sum(-sum(stock_moved_by_sales(o.warehouse).values()) for o in outlets) == sum(
		1 for o in outlets if o.name in done
	)
