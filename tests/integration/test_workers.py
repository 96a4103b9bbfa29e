"""Real RQ workers (`bench worker --burst`), the short-queue report, realtime on Redis, the shell."""

import pytest

frappe = pytest.importorskip("frappe", reason="Frappe tier skipped: no Frappe bench (FRAPPE_BENCH)")

from frappe.utils import nowtime  # noqa: E402
from frappe.utils.background_jobs import create_job_id  # noqa: E402

from scoopjoy import stock_sync  # noqa: E402
from tests.integration.conftest import bench_command, run_burst_worker  # noqa: E402
from tests.integration.world import RealtimeRecorder, scoopjoy_job_ids  # noqa: E402


@pytest.fixture
def small_world(world):
	good = world.make_outlet("Good", world.make_warehouse("Good"))
	world.make_pending_invoices(good.warehouse, 3)
	world.make_outlet("Broken", None)
	world.commit()
	return good


def test_worker_runs_sync_then_report_on_short_queue(world, small_world, queues):
	frappe.flags.in_test = False
	stock_sync.enqueue_stock_sync(world.group)
	frappe.db.commit()
	assert scoopjoy_job_ids("long") == [create_job_id(f"scoopjoy_stock_sync::{world.group}")]

	run_burst_worker("long")
	assert scoopjoy_job_ids("long") == []
	assert scoopjoy_job_ids("short") == [create_job_id(f"scoopjoy_sync_report::{world.group}")]
	[log_name] = world.logs()
	assert frappe.db.get_value("Stock Sync Log", log_name, "status") == "Running"  # until the report

	run_burst_worker("short")
	log = frappe.get_doc("Stock Sync Log", log_name)
	assert (log.status, log.succeeded, log.failed, log.invoices_synced) == ("Completed with Errors", 1, 1, 3)
	assert log.trigger == "CLI" and log.summary
	assert world.unsynced(small_world.warehouse) == 0


def test_progress_and_completion_go_to_the_triggering_users_room(world, small_world):
	recorder = RealtimeRecorder()
	stock_sync.process_stock_sync(world.group)
	[run] = world.logs()
	messages = recorder.stop(about=(run, world.tag))

	progress = [m for m in messages if m["event"] == "progress"]
	assert [m["message"]["percent"] for m in progress] == [50, 100]
	assert {m["room"] for m in progress} == {"user:Administrator"}
	assert progress[0]["message"]["title"] == "Syncing Stock"
	assert "(1/2)" in progress[0]["message"]["description"]
	[done] = [m for m in messages if m["event"] == "scoopjoy_stock_sync_complete"]
	assert done["room"] == "user:Administrator"
	assert (done["message"]["total"], done["message"]["success"], done["message"]["errors"]) == (2, 1, 1)
	assert "no franchise warehouse" in done["message"]["error_details"][0]["message"]
	assert not any(
		m["room"] == "all" for m in messages if "scoopjoy" in m["event"] or m["event"] == "progress"
	)


def test_bench_execute_from_a_shell_enqueues_and_a_worker_runs_it(world, small_world, queues):
	result = bench_command(
		"execute", "scoopjoy.stock_sync.enqueue_stock_sync", "--kwargs", repr({"outlet_group": world.group})
	)
	assert result.returncode == 0, result.stderr
	assert f"scoopjoy_stock_sync::{world.group}" in result.stdout
	assert scoopjoy_job_ids("long") == [create_job_id(f"scoopjoy_stock_sync::{world.group}")]

	run_burst_worker("long,short")
	[log_name] = world.logs()
	assert frappe.db.get_value("Stock Sync Log", log_name, ["status", "trigger"]) == (
		"Completed with Errors",
		"CLI",
	)


@pytest.fixture
def daily_from_now():
	"""A schedule whose slot starts now: no run of all outlets has started or ended in it yet."""
	before = [frappe.db.get_single_value("ScoopJoy Settings", f) for f in ("schedule", "daily_at")]
	frappe.db.set_single_value("ScoopJoy Settings", {"schedule": "Daily", "daily_at": nowtime()})
	frappe.db.commit()
	yield
	frappe.db.set_single_value("ScoopJoy Settings", {"schedule": before[0], "daily_at": before[1]})
	frappe.db.commit()


def test_scheduler_event_enqueues_a_sync_of_all_outlets(world, small_world, queues, daily_from_now):
	before = set(frappe.get_all("Stock Sync Log", filters={"outlet_group": "All"}, pluck="name"))
	job = frappe.get_doc("Scheduled Job Type", {"method": "scoopjoy.stock_sync.run_scheduled_sync"})
	job.enqueue(force=True)  # a cron event: on the default queue; it enqueues the sync on long
	frappe.db.commit()
	run_burst_worker("default,long,short")
	logs = frappe.get_all(
		"Stock Sync Log", filters={"outlet_group": "All", "name": ("not in", before or [""])}, fields=["*"]
	)
	try:
		assert [(log.trigger, log.status) for log in logs] == [("Scheduler", "Completed with Errors")]
		assert world.unsynced(small_world.warehouse) == 0
	finally:
		for log in logs:
			frappe.db.delete("Stock Sync Log Outlet", {"parent": log.name})
			frappe.db.delete("Stock Sync Log", log.name)
		frappe.db.commit()
