"""Fan-out: one run split into batch jobs, processed by two real workers at once."""

import pytest

frappe = pytest.importorskip("frappe", reason="Frappe tier skipped: no Frappe bench (FRAPPE_BENCH)")

from frappe.utils.background_jobs import get_job  # noqa: E402
from rq.job import JobStatus  # noqa: E402

from scoopjoy import named_lock, stock_sync  # noqa: E402
from tests.integration.conftest import kill_9, start_worker  # noqa: E402
from tests.integration.world import RealtimeRecorder, processed, rows, scoopjoy_job_ids, wait_until  # noqa: E402

OUTLETS, INVOICES = 400, 5


@pytest.fixture
def fanned_out(world, queues, site_config):
	"""400 outlets; runs over 100 outlets fan out in batches of 50 (8 batch jobs)."""
	outlets = []
	for i in range(OUTLETS):
		outlet = world.make_selling_outlet(f"F{i:03d}", INVOICES)
		outlets.append(outlet)
	world.commit()
	site_config("scoopjoy_fan_out_threshold", 100)
	site_config("scoopjoy_fan_out_batch", 50)
	frappe.flags.in_test = False
	return outlets


@pytest.fixture
def two_workers():
	workers = [start_worker("long,short") for _ in range(2)]
	yield workers
	for worker in workers:
		kill_9(worker)


def completion_of(message: dict, run: str) -> bool:
	return message["event"] == stock_sync.COMPLETE_EVENT and message["message"]["sync_log"] == run


def batch_jobs_over(run: str, timeout: float = 120):
	"""Until no job of the run's batches is queued or running and no batch holds its lock: every batch
	has committed or rolled back its last chunk and ended."""
	log = frappe.get_doc("Stock Sync Log", run)
	job_ids = [log.batch_job_id(batch) for batch in range(log.fan_out_jobs or 0)]
	ended = (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED)

	def over():
		jobs = [get_job(job_id) for job_id in job_ids]  # None: no longer in Redis
		if any(job and job.get_status() not in ended for job in jobs):
			return False
		return not any(named_lock.is_held(name) for name in log.lock_names())

	wait_until(over, timeout=timeout, what=f"a batch of {run} still queued, running or holding its lock")


def final(run: str):
	return wait_until(
		lambda: (
			frappe.db.get_value(
				"Stock Sync Log", run, ["status", "awaiting_report", "ended_on"], as_dict=True
			).status
			not in ("Queued", "Running")
		),
		timeout=180,
	)


def test_two_workers_share_one_run_and_exactly_one_finishes_it(world, fanned_out, two_workers):
	recorder = RealtimeRecorder()
	run = stock_sync.enqueue_stock_sync(world.group)["sync_log"]
	wait_until(lambda: frappe.db.get_value("Stock Sync Log", run, "fan_out_jobs"))
	again = stock_sync.enqueue_stock_sync(world.group)  # dedup holds while the batches run
	assert again["sync_log"] == run and "already running" in again["message"]
	final(run)
	# Published after the finishing batch's commit; then every batch's job is over (a second
	# completion from another batch would be in by then).
	recorder.wait_for(lambda m: completion_of(m, run), what=f"announcing {run} complete")
	batch_jobs_over(run)
	messages = recorder.stop()

	log = frappe.get_doc("Stock Sync Log", run)
	assert (log.status, log.fan_out_jobs, log.fan_out_done) == ("Completed", 8, 8)
	assert (log.processed, log.succeeded, log.invoices_synced) == (OUTLETS, OUTLETS, OUTLETS * INVOICES)
	assert len(log.outlets) == OUTLETS and len({row.outlet for row in log.outlets}) == OUTLETS
	done = [m for m in messages if completion_of(m, run)]
	assert len(done) == 1  # the last batch, and only it, finished the run
	assert (
		frappe.db.count("POS Invoice", {"set_warehouse": ("in", world.warehouses), "custom_stock_synced": 0})
		== 0
	)


def test_a_killed_fan_out_is_resumed_without_redoing_batches(world, fanned_out, two_workers):
	# Each outlet's row takes 50 ms to write, so a batch's chunk is one statement of 2.5 s: killed
	# while a worker is inside one, that batch is certainly unfinished (killed between two batches,
	# the run would simply complete, and the test would prove nothing).
	world.pause_on(
		"BEFORE INSERT", "tabStock Sync Log Outlet", f"NEW.franchise_name LIKE '{world.tag} F%'", 0.05
	)
	run = stock_sync.enqueue_stock_sync(world.group)["sync_log"]
	wait_until(lambda: processed(run) >= 100 and sleeping_in_mariadb() >= 1)
	for worker in two_workers:
		kill_9(worker)
	before = rows(run)
	assert 100 <= len(before) < OUTLETS

	# The batches still queued are live work: a new click must not start over.
	again = stock_sync.enqueue_stock_sync(world.group)
	assert again["sync_log"] == run and "already running" in again["message"], again
	two_workers[:] = [start_worker("long,short") for _ in range(2)]
	# They drain the queued batches; the two killed batches leave the run unfinished and dead...
	wait_until(lambda: not frappe.get_doc("Stock Sync Log", run).is_alive(), timeout=180)
	assert frappe.db.get_value("Stock Sync Log", run, "status") == "Running"
	# ...until the next trigger resumes it.
	reply = stock_sync.enqueue_stock_sync(world.group)
	assert reply["sync_log"] == run and "resumes" in reply["message"], reply
	final(run)

	log = frappe.get_doc("Stock Sync Log", run)
	after = rows(run)
	assert (log.status, log.processed, log.resume_count) == ("Completed", OUTLETS, 1)
	assert len(after) == OUTLETS and all(after[o].name == row.name for o, row in before.items())
	assert log.invoices_synced == OUTLETS * INVOICES


def sleeping_in_mariadb() -> int:
	"""Statements inside a pause_on() trigger's SLEEP right now."""
	return frappe.db.sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE STATE = 'User sleep'")[0][
		0
	]


def test_cancel_reaches_every_batch(world, fanned_out, two_workers):
	run = stock_sync.enqueue_stock_sync(world.group)["sync_log"]
	wait_until(lambda: processed(run) >= 50)
	stock_sync.cancel_stock_sync(run)
	final(run)
	batch_jobs_over(run)  # a batch still closing its chunk commits first
	frappe.db.rollback()
	log = frappe.get_doc("Stock Sync Log", run)
	assert log.status == "Cancelled" and log.processed < OUTLETS
	assert len(log.outlets) == log.processed
	assert scoopjoy_job_ids("long") == []  # the batches not yet started ended at once
