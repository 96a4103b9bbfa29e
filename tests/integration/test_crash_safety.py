"""Crash-safe runs with real `bench worker` processes: kill -9, time budget, concurrent enqueues,
cancel, overlapping runs, retries."""

import threading
import time

import pytest

frappe = pytest.importorskip("frappe", reason="Frappe tier skipped: no Frappe bench (FRAPPE_BENCH)")

import pymysql  # noqa: E402
from frappe.utils.background_jobs import create_job_id, get_job, get_queue  # noqa: E402
from rq import Queue, Worker  # noqa: E402
from rq.job import JobStatus  # noqa: E402
from rq.maintenance import clean_intermediate_queue  # noqa: E402

from scoopjoy import stock_sync  # noqa: E402
from tests.integration.conftest import BENCH, SITE, kill_9, run_burst_worker, start_worker  # noqa: E402
from tests.integration.world import (  # noqa: E402
	RealtimeRecorder,
	all_and_group_at_once,
	processed,
	rows,
	scoopjoy_job_ids,
	unsynced_in_group,
	wait_until,
)

INVOICES_PER_OUTLET = 20
STALE_AFTER_KILL = 5  # seconds a killed run may still look alive (README: Failures the run survives)


@pytest.fixture
def three_hundred_outlets(world):
	outlets = []
	for i in range(300):
		outlet = world.make_selling_outlet(f"K{i:03d}", INVOICES_PER_OUTLET)
		outlets.append(outlet)
	world.commit()
	return outlets


def test_kill_9_mid_run_then_the_next_trigger_resumes(world, three_hundred_outlets, queues):
	frappe.flags.in_test = False
	run = stock_sync.enqueue_stock_sync(world.group)["sync_log"]
	worker = start_worker()
	try:
		wait_until(lambda: processed(run) >= 100)
	finally:
		kill_9(worker)

	before = rows(run)
	assert 100 <= len(before) < 300, "the kill must land after some chunks and before the end"
	assert frappe.db.get_value("Stock Sync Log", run, "status") == "Running"  # what the dead worker left

	# MariaDB frees the dead worker's run lock once it has rolled back the worker's open chunk.
	started = time.monotonic()
	while "already running" in (reply := stock_sync.enqueue_stock_sync(world.group))["message"]:
		assert time.monotonic() - started < STALE_AFTER_KILL, "a dead run must not block the next enqueue"
		time.sleep(0.1)
	detected_after = time.monotonic() - started
	assert reply["sync_log"] == run and "resumes" in reply["message"], reply
	assert scoopjoy_job_ids("long") == [create_job_id(f"scoopjoy_stock_sync::{world.group}")]

	run_burst_worker("long,short")
	log = frappe.get_doc("Stock Sync Log", run)
	after = rows(run)
	assert (log.status, log.resume_count, log.processed, log.total_outlets) == ("Completed", 1, 300, 300)
	assert len(log.outlets) == 300 and set(after) == {o.name for o in three_hundred_outlets}
	redone = [outlet for outlet, row in before.items() if after[outlet].name != row.name]
	assert redone == []  # rows committed before the kill are the same rows: nothing was redone
	assert log.invoices_synced == 300 * INVOICES_PER_OUTLET  # no invoice counted twice
	assert unsynced_in_group(world) == 0
	print(
		f"\nkill -9 test: 300 outlets, killed after {len(before)} recorded, redone 0, "
		f"dead run detected by the next enqueue in {detected_after:.3f} s"
	)


def test_time_budget_stops_at_a_chunk_boundary_and_the_scheduler_check_resumes(
	world, three_hundred_outlets, queues, site_config
):
	site_config("scoopjoy_sync_time_budget", 0.1)  # seconds: a chunk or two
	frappe.flags.in_test = False
	run = stock_sync.enqueue_stock_sync(world.group)["sync_log"]
	run_burst_worker("long,short")
	log = frappe.get_doc("Stock Sync Log", run)
	assert log.status == "Interrupted" and "time budget" in log.summary
	assert 0 < log.processed < 300 and log.processed % stock_sync.CHUNK_SIZE == 0  # a chunk boundary
	first_leg = rows(run)

	site_config("scoopjoy_sync_time_budget", 3600)
	stock_sync.resume_interrupted_runs()  # what the */5 scheduler event runs
	run_burst_worker("long,short")
	log = frappe.get_doc("Stock Sync Log", run)
	assert (log.status, log.processed, log.resume_count) == ("Completed", 300, 1)
	after = rows(run)
	assert len(after) == 300 and all(after[o].name == row.name for o, row in first_leg.items())
	assert unsynced_in_group(world) == 0


def test_twenty_concurrent_callers_get_one_run_and_one_job(world, queues):
	world.make_outlet("Only", world.make_warehouse("Only"))
	world.commit()
	barrier, replies, errors = threading.Barrier(20), [], []

	def caller():
		try:
			frappe.init(site=SITE, sites_path=str(BENCH / "sites"))
			frappe.connect()
			frappe.set_user("Administrator")
			barrier.wait(timeout=30)
			replies.append(stock_sync.enqueue_stock_sync(world.group))
			frappe.db.commit()
		except Exception as e:
			errors.append(e)
		finally:
			frappe.destroy()

	threads = [threading.Thread(target=caller) for _ in range(20)]
	for thread in threads:
		thread.start()
	for thread in threads:
		thread.join(timeout=60)

	assert errors == []
	assert len(replies) == 20
	assert len(world.logs()) == 1
	assert scoopjoy_job_ids("long") == [create_job_id(f"scoopjoy_stock_sync::{world.group}")]
	assert sum("queued" in r["message"] for r in replies) == 1
	assert sum("already running" in r["message"] for r in replies) == 19
	assert {r["sync_log"] for r in replies} == set(world.logs())


def test_a_killed_workers_job_left_started_in_rq_does_not_swallow_the_next_run(world, queues):
	world.make_outlet("Only", world.make_warehouse("Only"))
	world.commit()
	frappe.flags.in_test = False
	job_id = stock_sync.sync_job_id(world.group)
	stale = frappe.enqueue("frappe.ping", queue="long", job_id=job_id)
	get_queue("long").remove(stale)
	stale.set_status(JobStatus.STARTED)  # what a SIGKILLed worker leaves in RQ until its cleanup

	reply = stock_sync.enqueue_stock_sync(world.group)

	assert "has been queued" in reply["message"]
	assert scoopjoy_job_ids("long") == [create_job_id(job_id)]
	assert get_job(job_id).kwargs["kwargs"]["sync_log"] == reply["sync_log"]


def take_job_off_the_queue_and_die(queue_types: tuple[str, ...]):
	"""What a worker of these queues does before its work horse marks the job started, done by RQ's own
	code; then the worker is SIGKILLed: the job stays "queued" in RQ's record."""
	queues = [get_queue(queue_type) for queue_type in queue_types]
	job, _ = Queue.dequeue_any(queues, None, connection=queues[0].connection)
	assert job.get_status() == JobStatus.QUEUED
	return job


def test_a_job_taken_by_a_worker_killed_before_it_started_does_not_hold_the_run(world, queues):
	world.make_selling_outlet("Only", 2)
	world.commit()
	frappe.flags.in_test = False
	run = stock_sync.enqueue_stock_sync(world.group)["sync_log"]
	take_job_off_the_queue_and_die(("long", "short"))  # `bench worker --queue long,short`

	reply = stock_sync.enqueue_stock_sync(world.group)

	assert reply["sync_log"] == run and "resumes" in reply["message"], reply
	run_burst_worker("long,short")
	log = frappe.get_doc("Stock Sync Log", run)
	assert (log.status, log.processed, log.invoices_synced, log.resume_count) == ("Completed", 1, 2, 1)


def test_a_single_queue_workers_orphan_counts_as_queued_until_rq_cleans_it_up(world, queues):
	world.make_outlet("Only", world.make_warehouse("Only"))
	world.commit()
	frappe.flags.in_test = False
	run = stock_sync.enqueue_stock_sync(world.group)["sync_log"]
	job = take_job_off_the_queue_and_die(("long",))  # RQ parks it in the queue's intermediate list

	assert "already running" in stock_sync.enqueue_stock_sync(world.group)["message"]
	long_queue = get_queue("long")
	clean_intermediate_queue(Worker([long_queue], connection=long_queue.connection), long_queue)
	assert job.get_status() == JobStatus.FAILED

	reply = stock_sync.enqueue_stock_sync(world.group)
	assert reply["sync_log"] == run and "resumes" in reply["message"], reply


def test_cancel_mid_run_keeps_what_was_done(world, three_hundred_outlets, queues):
	frappe.flags.in_test = False
	run = stock_sync.enqueue_stock_sync(world.group)["sync_log"]
	recorder = RealtimeRecorder()
	worker = start_worker("long,short")
	try:
		wait_until(lambda: processed(run) >= 50)
		stock_sync.cancel_stock_sync(run)
		wait_until(lambda: frappe.db.get_value("Stock Sync Log", run, "ended_on"))
		wait_until(lambda: not frappe.db.get_value("Stock Sync Log", run, "awaiting_report"))
		# Published after the worker's commit: the worker lives until it is out.
		recorder.wait_for(
			lambda m: m["event"] == stock_sync.COMPLETE_EVENT and m["message"]["sync_log"] == run,
			what=f"announcing {run} ended",
		)
	finally:
		kill_9(worker)
	messages = recorder.stop(about=(run,))

	log = frappe.get_doc("Stock Sync Log", run)
	assert log.status == "Cancelled" and log.cancel_requested
	assert 50 <= log.processed < 300 and len(log.outlets) == log.processed
	done = {row.outlet for row in log.outlets}
	untouched = [o for o in three_hundred_outlets if o.name not in done]
	assert untouched and all(world.synced(o.warehouse) == 0 for o in untouched)
	assert all(world.unsynced(o.warehouse) == 0 for o in three_hundred_outlets if o.name in done)
	[announced] = [m for m in messages if m["event"] == "scoopjoy_stock_sync_complete"]
	assert announced["room"] == "user:Administrator" and announced["message"]["status"] == "Cancelled"


def test_cancel_of_a_queued_run_takes_it_off_the_queue(world, queues):
	world.make_outlet("Queued", world.make_warehouse("Queued"))
	world.commit()
	frappe.flags.in_test = False
	run = stock_sync.enqueue_stock_sync(world.group)["sync_log"]
	stock_sync.cancel_stock_sync(run)
	assert frappe.db.get_value("Stock Sync Log", run, "status") == "Cancelled"
	assert scoopjoy_job_ids("long") == []
	with pytest.raises(frappe.ValidationError, match="Only a queued or running"):
		stock_sync.cancel_stock_sync(run)


def test_overlapping_runs_never_sync_an_outlet_twice(world, queues):
	outlets = [world.make_outlet(f"O{i:03d}", world.make_warehouse(f"O{i:03d}")) for i in range(150)]
	for outlet in outlets:
		world.make_pending_invoices(outlet.warehouse, 10)
	world.commit()
	group_run, all_run = all_and_group_at_once(world)

	group_log, all_log = (frappe.get_doc("Stock Sync Log", r) for r in (group_run, all_run))
	ours = {o.name for o in outlets}
	assert {row.outlet for row in group_log.outlets} == ours
	assert ours <= {row.outlet for row in all_log.outlets}
	both = [row.invoices_synced for log in (group_log, all_log) for row in log.outlets if row.outlet in ours]
	assert sum(both) == 150 * 10  # every invoice flagged by exactly one of the two runs
	# Only ours: "All" also walks every other outlet of the site (the demo's fail on purpose).
	assert not [
		row
		for log in (group_log, all_log)
		for row in log.outlets
		if row.outlet in ours and row.result == "Failed"
	]
	assert unsynced_in_group(world) == 0


def test_lock_wait_timeout_is_retried_bad_data_is_not(world, site_config):
	good = world.make_outlet("Busy", world.make_warehouse("Busy"))
	invoices = world.make_pending_invoices(good.warehouse, 3)
	bad = world.make_outlet("No WH", None)
	world.commit()
	site_config("scoopjoy_lock_wait_timeout", 1)

	sync_connection = frappe.db.sql("SELECT CONNECTION_ID()")[0][0]  # the sync runs in this process
	locked, sync_over, cashier_errors = threading.Event(), threading.Event(), []
	credentials = {  # read here: frappe.local is empty in another thread
		"host": frappe.conf.db_host or "127.0.0.1",
		"port": int(frappe.conf.db_port or 3306),
		"user": frappe.conf.db_name,
		"password": frappe.conf.db_password,
		"database": frappe.conf.db_name,
	}

	def cashier_holding_an_invoice():
		conn = pymysql.connect(**credentials)
		try:
			with conn.cursor() as cursor:
				cursor.execute("BEGIN")
				cursor.execute("SELECT name FROM `tabPOS Invoice` WHERE name = %s FOR UPDATE", invoices[1])
				locked.set()
				# Held until the sync has waited for it, given up (its 1 s lock wait timeout) and waits
				# again: its next attempt, which then goes through.
				first = sync_waiting_for_the_lock(cursor)
				sync_waiting_for_the_lock(cursor, other_than=first)
		except Exception as e:
			cashier_errors.append(e)
		finally:
			conn.rollback()
			conn.close()

	def sync_waiting_for_the_lock(cursor, other_than: int | None = None, timeout: float = 60) -> int:
		"""The query id of the sync's statement on the invoices that has run for 0.3 s (its own take
		milliseconds: it waits for the cashier's row lock), other than `other_than`."""
		deadline = time.monotonic() + timeout
		while time.monotonic() < deadline and not sync_over.is_set():
			cursor.execute(
				"""SELECT QUERY_ID FROM information_schema.PROCESSLIST WHERE ID = %s AND COMMAND = 'Query'
				AND INFO LIKE '%%tabPOS Invoice%%' AND TIME_MS >= 300""",
				sync_connection,
			)
			if (row := cursor.fetchone()) and row[0] != other_than:
				return row[0]
			time.sleep(0.02)
		attempt = "again, after a lock wait timeout" if other_than else "for the cashier's lock"
		raise AssertionError(f"the sync never waited {attempt} (within {timeout} s, or before it ended)")

	cashier = threading.Thread(target=cashier_holding_an_invoice)
	cashier.start()
	assert locked.wait(timeout=10), "the cashier could not lock the invoice"
	try:
		stock_sync.process_stock_sync(world.group)
	finally:
		sync_over.set()
		cashier.join()
		frappe.db.sql("SET SESSION innodb_lock_wait_timeout = 50")
	assert cashier_errors == [], cashier_errors

	[run] = world.logs()
	result = rows(run)
	assert (result[good.name].result, result[good.name].invoices_synced) == ("Synced", 3), result[good.name]
	assert 2 <= result[good.name].attempts <= stock_sync.MAX_ATTEMPTS  # retried, then it went through
	assert (result[bad.name].result, result[bad.name].attempts) == ("Failed", 1)  # bad data: no retry


def test_deadlock_redoes_the_chunk_and_gives_up_on_an_outlet_that_keeps_deadlocking(world):
	outlets = {}
	for label, count in (("A", 3), ("B", 2), ("C", 4), ("D", 5)):
		outlets[label] = world.make_outlet(label, world.make_warehouse(label))
		invoices = world.make_pending_invoices(outlets[label].warehouse, count)
		if label == "B":
			world.deadlock_on(invoices[0], times=2)  # then it goes through
		if label == "D":
			world.deadlock_on(invoices[0], times=99)  # never goes through
	# E shares A's warehouse, so the chunk cannot be marked at once and goes outlet by outlet: the
	# per-outlet retries are what this test counts (marking at once has tests of its own).
	outlets["E"] = world.make_outlet("E", outlets["A"].warehouse)
	world.commit()

	stock_sync.process_stock_sync(world.group)

	[run] = world.logs()
	result = rows(run)
	outcome = {label: (result[o.name].result, result[o.name].invoices_synced) for label, o in outlets.items()}
	assert outcome == {
		"A": ("Synced", 3),
		"B": ("Synced", 2),
		"C": ("Synced", 4),
		"D": ("Failed", 0),
		"E": ("Synced", 0),
	}
	assert result[outlets["B"].name].attempts == 3  # two deadlocks, then success
	assert result[outlets["D"].name].attempts == stock_sync.MAX_ATTEMPTS
	assert "deadlocked" in result[outlets["D"].name].message
	log = frappe.get_doc("Stock Sync Log", run)
	assert (log.processed, log.invoices_synced) == (5, 9)  # redone chunks counted once
	assert world.synced(outlets["D"].warehouse) == 0


def test_retry_failed_outlets_touches_only_the_failed_ones(world):
	good = world.make_outlet("Good", world.make_warehouse("Good"))
	world.make_pending_invoices(good.warehouse, 2)
	fixed, still_bad = world.make_outlet("Fixed", None), world.make_outlet("Still Bad", None)
	world.commit()
	stock_sync.process_stock_sync(world.group)
	[first] = world.logs()
	assert frappe.db.get_value("Stock Sync Log", first, "failed") == 2

	world.make_pending_invoices(good.warehouse, 3)  # new sales at the good outlet: not the retry's business
	warehouse = world.make_warehouse("Fixed")
	world.make_pending_invoices(warehouse, 4)
	frappe.db.set_value("Franchise Agreement", fixed.name, "franchise_warehouse", warehouse)
	world.commit()

	reply = stock_sync.retry_failed_outlets(first)
	retry = frappe.get_doc("Stock Sync Log", reply["sync_log"])
	assert retry.retry_of == first and retry.name != first
	outcome = {row.outlet: (row.result, row.invoices_synced) for row in retry.outlets}
	assert outcome == {fixed.name: ("Synced", 4), still_bad.name: ("Failed", 0)}
	assert world.unsynced(good.warehouse) == 3
	assert retry.status == "Completed with Errors"


def test_retry_and_cancel_need_the_sync_role(world):
	world.make_outlet("Nowhere", None)
	world.commit()
	stock_sync.process_stock_sync(world.group)
	[run] = world.logs()
	frappe.set_user("Guest")
	with pytest.raises(frappe.PermissionError):
		stock_sync.retry_failed_outlets(run)
	with pytest.raises(frappe.PermissionError):
		stock_sync.cancel_stock_sync(run)
