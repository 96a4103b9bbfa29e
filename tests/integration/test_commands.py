"""The bench commands, run as an admin runs them, against a real worker."""

import pytest

frappe = pytest.importorskip("frappe", reason="Frappe tier skipped: no Frappe bench (FRAPPE_BENCH)")

from tests.integration.conftest import bench_command, kill_9, start_worker  # noqa: E402


@pytest.fixture
def worker(queues):
	process = start_worker("long,short")
	yield process
	kill_9(process)


def test_sync_stock_wait_draws_progress_prints_summary_and_fails_on_failed_outlets(world, worker):
	good = world.make_outlet("Good", world.make_warehouse("Good"))
	world.make_pending_invoices(good.warehouse, 3)
	broken = world.make_outlet("Broken", None)
	world.commit()

	result = bench_command("scoopjoy-sync-stock", "--group", world.group, "--wait", timeout=300)

	assert result.returncode == 1, result.stdout + result.stderr
	assert "has been queued" in result.stdout and "Outlets" in result.stdout  # the progress bar's label
	assert "Completed with Errors - 1 of 2 outlets synced, 1 failed" in result.stdout
	assert "0 invoices consolidated into 0 merge logs (stock qty 0 posted), 3 only marked" in result.stdout
	assert (
		f"{broken.name} ({broken.franchise_name}): Outlet {broken.name} has no franchise warehouse"
		in result.stdout
	)
	assert world.unsynced(good.warehouse) == 0


def test_sync_stock_wait_exits_zero_when_every_outlet_synced(world, worker):
	good = world.make_outlet("Good", world.make_warehouse("Good"))
	world.make_pending_invoices(good.warehouse, 2)
	world.commit()

	result = bench_command("scoopjoy-sync-stock", "--group", world.group, "--wait", timeout=300)

	assert result.returncode == 0, result.stdout + result.stderr
	assert "Completed - 1 of 1 outlets synced, 0 failed" in result.stdout
	assert "2 only marked as synced" in result.stdout


@pytest.mark.consolidating
def test_sync_stock_wait_with_posting_reports_what_was_consolidated(world, worker):
	_, short = world.good_and_short_outlets()

	result = bench_command("scoopjoy-sync-stock", "--group", world.group, "--wait", timeout=300)

	assert result.returncode == 1, result.stdout + result.stderr
	assert "Completed with Errors - 1 of 2 outlets synced, 1 failed" in result.stdout
	assert "2 invoices consolidated into 1 merge logs (stock qty 5 posted), 0 only marked" in result.stdout
	[reason] = [line for line in result.stdout.splitlines() if line.startswith(f"  {short.name} ")]
	assert "needed in" in reason and "<" not in reason, reason  # ERPNext's message, as text


def test_sync_stock_refuses_an_unknown_group(queues):
	result = bench_command("scoopjoy-sync-stock", "--group", "No Such Group")
	assert result.returncode == 1
	assert "Outlet Group No Such Group does not exist" in result.stderr.replace("<strong>", "").replace(
		"</strong>", ""
	)


def test_sync_status_lists_the_latest_runs(world):
	world.make_outlet("Nowhere", None)
	world.commit()
	from scoopjoy import stock_sync

	stock_sync.process_stock_sync(world.group)
	[run] = world.logs()

	result = bench_command("scoopjoy-sync-status", "--limit", "50")

	assert result.returncode == 0, result.stderr
	[line] = [line for line in result.stdout.splitlines() if line.startswith(run)]
	assert world.group in line and "Failed" in line and "1/1" in line
