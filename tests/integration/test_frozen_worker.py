"""A worker that stops without dying (SIGSTOP: a paused VM, a cut-off host) must not hold its run hostage,
and must write nothing when it wakes after the takeover. MariaDB and Redis restarts mid-run converge.
A report job lost with Redis is queued again."""

import time
from contextlib import contextmanager

import pytest

frappe = pytest.importorskip("frappe", reason="Frappe tier skipped: no Frappe bench (FRAPPE_BENCH)")

from scoopjoy import stock_sync  # noqa: E402
from tests.integration.conftest import (  # noqa: E402
	freeze,
	kill_9,
	reconnect,
	restart_mariadb,
	restart_redis,
	run_burst_worker,
	start_worker,
	thaw_until_its_job_ends,
)
from tests.integration.ledger import assert_consolidated_once  # noqa: E402
from tests.integration.world import (  # noqa: E402
	RealtimeRecorder,
	lock_holder_paused,
	processed,
	rows,
	scoopjoy_job_ids,
	unsynced_in_group,
	wait_until,
)

STALE_AFTER = 5  # seconds, through the site config key


def slow_outlets(world, count: int, invoices: int = 3, seconds: float = 0.05) -> list:
	"""Outlets whose sync takes `seconds` each (a trigger pauses each outlet's row), one per chunk."""
	outlets = [world.make_outlet(f"S{i:03d}", world.make_warehouse(f"S{i:03d}")) for i in range(count)]
	for outlet in outlets:
		world.make_pending_invoices(outlet.warehouse, invoices)
	world.pause_on(
		"BEFORE INSERT", "tabStock Sync Log Outlet", f"NEW.franchise_name LIKE '{world.tag} S%'", seconds
	)
	world.commit()
	return outlets


def take_over(group: str, run: str, limit: float) -> float:
	"""Trigger until the run is resumed; the seconds it took."""
	started = time.monotonic()
	while "already running" in (reply := stock_sync.enqueue_stock_sync(group))["message"]:
		assert time.monotonic() - started < limit, "a frozen run must be taken over"
		time.sleep(0.5)
	assert reply["sync_log"] == run and "resumes" in reply["message"], reply
	return time.monotonic() - started


@contextmanager
def frozen_and_taken_over(world, site_config, ready):
	"""A run on a real worker that is frozen (SIGSTOP) once `ready(run)`; triggers until the run is taken
	over. Yields (run, the worker, its frozen processes, seconds from freeze to takeover); kills it after."""
	site_config("scoopjoy_stale_after", STALE_AFTER)
	site_config("scoopjoy_chunk_seconds", 0.01)
	frappe.flags.in_test = False
	run = stock_sync.enqueue_stock_sync(world.group)["sync_log"]
	worker = start_worker()
	try:
		ready(run)
		frozen = freeze(worker)
		frozen_at = time.monotonic()
		assert "already running" in stock_sync.enqueue_stock_sync(world.group)["message"]  # not yet stale
		take_over(world.group, run, limit=STALE_AFTER + 30)
		yield run, worker, frozen, time.monotonic() - frozen_at
	finally:
		kill_9(worker)


def test_a_frozen_worker_is_taken_over_and_writes_nothing_when_it_wakes(world, queues, site_config):
	outlets = slow_outlets(world, 200)

	def twenty_outlets_in(run):
		wait_until(lambda: processed(run) >= 20)

	with frozen_and_taken_over(world, site_config, twenty_outlets_in) as (run, worker, frozen, takeover):
		before_wake = rows(run)
		run_burst_worker("long,short")  # a new worker finishes the run
		finished = rows(run)
		recorder = RealtimeRecorder()
		# The frozen worker wakes, mid-chunk, in a run that is no longer its own, and its job ends.
		thaw_until_its_job_ends(worker, frozen)
		after_wake = recorder.stop(about=(run, world.tag))

	frappe.db.rollback()
	log = frappe.get_doc("Stock Sync Log", run)
	assert (log.status, log.processed, log.resume_count) == ("Completed", 200, 1)
	assert log.invoices_synced == 200 * 3 and unsynced_in_group(world) == 0
	assert rows(run) == finished  # the woken worker wrote no row
	assert len(finished) == 200 and {o.name for o in outlets} == set(finished)
	assert all(finished[o].name == r.name for o, r in before_wake.items())  # nothing redone
	assert after_wake == [], after_wake  # no progress, counters or completion from the woken worker
	print(f"\nfrozen worker: taken over {takeover:.1f} s after the freeze (stale after {STALE_AFTER} s)")
	assert takeover < STALE_AFTER + 10


@pytest.mark.consolidating
def test_a_frozen_worker_posting_stock_is_taken_over_and_posts_nothing_when_it_wakes(
	world, queues, site_config
):
	scoop = world.make_item("SCOOP")
	outlets = []
	for i in range(4):
		outlet = world.make_stocked_outlet(f"Z{i}", {scoop: 20})
		outlet.invoices = [world.sell(outlet, {scoop: 1}), world.sell(outlet, {scoop: 2})]
		outlets.append(outlet)
	world.commit()
	world.pause_on("BEFORE INSERT", "tabPOS Invoice Merge Log", "1 = 1", 1.5)  # posting is slow

	def inside_a_consolidation(run):
		# An outlet is posted, and the run's worker is inside the next outlet's slowed merge-log INSERT.
		wait_until(
			lambda: (
				processed(run) >= 1 and lock_holder_paused([frappe.get_doc("Stock Sync Log", run).lock_name])
			),
			what="the run's worker never paused inside a later outlet's merge log",
		)

	with frozen_and_taken_over(world, site_config, inside_a_consolidation) as (run, worker, frozen, _):
		run_burst_worker("long,short")
		finished = rows(run)
		# The woken worker tries to finish its outlet and commit; its job ends.
		thaw_until_its_job_ends(worker, frozen)

	frappe.db.rollback()
	log = frappe.get_doc("Stock Sync Log", run)
	assert (log.status, log.processed, log.invoices_consolidated) == ("Completed", 4, 8)
	assert rows(run) == finished
	for outlet in outlets:
		assert_consolidated_once(outlet.invoices, outlet.warehouse)


def inside_a_batchs_chunk(run) -> bool:
	"""A batch's worker is inside the slowed INSERT of its chunk's rows (the pause trigger sleeping)."""
	return lock_holder_paused([run.batch_lock_name(batch) for batch in range(run.fan_out_jobs or 0)])


def test_a_frozen_fan_out_batch_is_taken_over(world, queues, site_config):
	slow_outlets(world, 120)
	site_config("scoopjoy_stale_after", STALE_AFTER)
	site_config("scoopjoy_chunk_seconds", 0.01)
	site_config("scoopjoy_fan_out_threshold", 1)
	site_config("scoopjoy_fan_out_batch", 40)
	frappe.flags.in_test = False
	run = stock_sync.enqueue_stock_sync(world.group)["sync_log"]
	first = start_worker()
	try:
		# A batch is one chunk here (marked at once, one INSERT for its rows, slowed per row): freeze the
		# worker inside that INSERT, so its batch is unfinished, not between two batches.
		wait_until(lambda: inside_a_batchs_chunk(frappe.get_doc("Stock Sync Log", run)), timeout=60)
		frozen = freeze(first)  # its batch holds its lock; the other batches wait in the queue
		second = start_worker("long,short")
		try:
			# The other batches finish; the frozen one keeps the run looking alive until it is stale.
			take_over(world.group, run, limit=STALE_AFTER + 120)
			wait_until(
				lambda: frappe.db.get_value("Stock Sync Log", run, "status") == "Completed", timeout=180
			)
			finished = rows(run)
			thaw_until_its_job_ends(first, frozen)
		finally:
			kill_9(second)
	finally:
		kill_9(first)

	frappe.db.rollback()
	log = frappe.get_doc("Stock Sync Log", run)
	assert (log.processed, log.invoices_synced, log.resume_count) == (120, 360, 1)
	assert rows(run) == finished and len(finished) == 120
	assert unsynced_in_group(world) == 0


def run_through_a_restart(world, site_config, restart, bring_to_end):
	"""A slow run on a long-lived worker; `restart` a service mid-run, leaving the worker running;
	`bring_to_end` triggers as operators and the scheduler would. Every outlet and invoice once."""
	slow_outlets(world, 150)
	site_config("scoopjoy_chunk_seconds", 0.01)
	frappe.flags.in_test = False
	run = stock_sync.enqueue_stock_sync(world.group)["sync_log"]
	worker = start_worker("long,short")
	try:
		wait_until(lambda: processed(run) >= 20)
		restart()
		bring_to_end(run)
		wait_until(lambda: frappe.db.get_value("Stock Sync Log", run, "status") == "Completed", timeout=240)
	finally:
		kill_9(worker)
	log = frappe.get_doc("Stock Sync Log", run)
	assert (log.processed, log.invoices_synced) == (150, 450)
	assert len(rows(run)) == 150 and unsynced_in_group(world) == 0


def test_mariadb_restart_mid_run_with_the_worker_left_running_converges(world, queues, site_config):
	def cut_every_connection():
		restart_mariadb()  # the worker's connection is cut mid-chunk; the worker process lives on
		reconnect()

	run_through_a_restart(
		world, site_config, cut_every_connection, lambda run: take_over(world.group, run, limit=60)
	)


def test_redis_restart_mid_run_with_the_worker_left_running_converges(world, queues, site_config):
	def scheduler_checks_until_done(run):
		deadline = time.monotonic() + 240
		while frappe.db.get_value("Stock Sync Log", run, "status") != "Completed":
			assert time.monotonic() < deadline, frappe.db.get_value("Stock Sync Log", run, "summary")
			stock_sync.resume_interrupted_runs()  # the */5 check
			frappe.db.commit()
			time.sleep(2)
			frappe.db.rollback()

	# Queues and job hashes vanish; the worker and its job live on.
	run_through_a_restart(world, site_config, restart_redis, scheduler_checks_until_done)


def test_a_report_job_lost_with_redis_is_queued_again_by_the_check(world, queues):
	world.make_selling_outlet("Good", 2)
	world.commit()
	frappe.flags.in_test = False
	run = stock_sync.enqueue_stock_sync(world.group)["sync_log"]
	run_burst_worker("long")  # the sync ends; its report job waits on the short queue
	assert scoopjoy_job_ids("short")
	restart_redis()  # ...and is lost
	assert scoopjoy_job_ids("short") == []
	assert frappe.db.get_value("Stock Sync Log", run, ["status", "awaiting_report"]) == ("Running", 1)

	stock_sync.resume_interrupted_runs()
	frappe.db.commit()
	assert scoopjoy_job_ids("short")
	run_burst_worker("short")
	assert frappe.db.get_value("Stock Sync Log", run, ["status", "awaiting_report"]) == ("Completed", 0)
