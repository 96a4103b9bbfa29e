"""Fixtures for the Frappe tier: a real site on the bench at $FRAPPE_BENCH (default ~/frappe-bench).

frappe is imported inside the fixtures only, so that without a bench these modules are collected
by plain Python and skipped with a reason (see `frappe_or_skip`), not errored.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# The bench whose Python runs the tests (its env/bin/python), unless FRAPPE_BENCH names one: the
# tests must never run one bench's code against another bench's site.
_RUNNING_BENCH = Path(sys.executable).parent.parent.parent
BENCH = Path(
	os.environ.get("FRAPPE_BENCH")
	or (_RUNNING_BENCH if (_RUNNING_BENCH / "apps" / "frappe").is_dir() else "~/frappe-bench")
).expanduser()
SITE = os.environ.get("FRAPPE_SITE", "test_site")
# Frappe's processes run in the bench's sites folder, and Frappe finds its logs from there ("../logs"):
# importing ERPNext modules opens a log (Frappe 16), so the test modules are collected from there too.
if (BENCH / "sites").is_dir():
	os.chdir(BENCH / "sites")
# Frappe renders emails and Desk pages from the built bundles this file lists (`bench build`).
ASSETS_JSON = BENCH / "sites" / "assets" / "assets.json"
needs_desk_assets = pytest.mark.skipif(
	not ASSETS_JSON.exists(),
	reason=f"skipped: the bench's Desk assets are not built ({ASSETS_JSON}; bench build)",
)


def bench_command(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
	"""Run `bench --site SITE ...` as an operator would. CI's CI=true would make Frappe's workers
	run every enqueue inline (frappe.flags.in_test), so it is not passed on."""
	env = {k: v for k, v in os.environ.items() if k != "CI"}
	return subprocess.run(
		["bench", "--site", SITE, *args],
		cwd=BENCH,
		env=env,
		capture_output=True,
		text=True,
		timeout=timeout,
		check=False,
	)


def run_burst_worker(queues: str) -> subprocess.CompletedProcess:
	"""A real RQ worker that drains the given queues and exits."""
	import frappe

	result = bench_command("worker", "--queue", queues, "--burst")
	assert result.returncode == 0, result.stdout + result.stderr
	frappe.db.rollback()  # end our snapshot, to read what the worker committed
	return result


def start_worker(queues: str = "long") -> subprocess.Popen:
	"""A long-lived worker, as `bench start` runs them."""
	env = {k: v for k, v in os.environ.items() if k != "CI"}
	return subprocess.Popen(
		["bench", "--site", SITE, "worker", "--queue", queues],
		cwd=BENCH,
		env=env,
		stdout=subprocess.DEVNULL,
		stderr=subprocess.DEVNULL,
	)


def kill_9(worker: subprocess.Popen):
	"""SIGKILL the worker and every process under it at once, as a crash or OOM kill would. RQ's work
	horse runs in a process group of its own (os.setsid), so killing the worker's group is not enough."""
	for pid in worker_family(worker):
		with contextlib.suppress(ProcessLookupError):
			os.kill(pid, signal.SIGKILL)
	worker.wait(timeout=30)


def worker_family(worker: subprocess.Popen) -> list[int]:
	import psutil  # comes with frappe

	return [worker.pid, *(p.pid for p in psutil.Process(worker.pid).children(recursive=True))]


def freeze(worker: subprocess.Popen) -> list[int]:
	"""SIGSTOP the worker and its work horse: alive, connections open, doing nothing (a paused VM)."""
	family = worker_family(worker)
	for pid in family:
		os.kill(pid, signal.SIGSTOP)
	return family


def thaw(family: list[int]):
	for pid in family:
		with contextlib.suppress(ProcessLookupError):
			os.kill(pid, signal.SIGCONT)


def thaw_until_its_job_ends(worker: subprocess.Popen, family: list[int], timeout: float = 120):
	"""Wake the frozen worker and wait until its work horse (the process RQ forks for the job, frozen
	mid-job) has exited: the woken job is over and can write nothing more. Fails when the worker was
	frozen between jobs, or when the woken job does not end within `timeout` s."""
	import psutil

	horses = []
	for pid in family:
		if pid != worker.pid:
			with contextlib.suppress(psutil.NoSuchProcess):
				horses.append(psutil.Process(pid))  # taken while frozen: a reused pid is not mistaken
	assert horses, "the worker was frozen between jobs: no work horse to wake"
	thaw(family)
	_gone, alive = psutil.wait_procs(horses, timeout=timeout)
	assert not alive, f"the woken work horse {[p.pid for p in alive]} did not end its job within {timeout} s"


def restart_mariadb():
	"""Stop MariaDB and start it again the way .ci/run starts it; every connection is cut."""
	subprocess.run(["mariadb-admin", "shutdown"], check=True, timeout=120)
	subprocess.run(
		["start-stop-daemon", "--start", "--oknodo", "--background", "--exec", "/usr/sbin/mariadbd"],
		check=True,
		timeout=30,
	)
	for _ in range(120):
		if subprocess.run(["mariadb-admin", "ping"], capture_output=True).returncode == 0:
			break
		time.sleep(0.5)
	else:
		raise AssertionError("MariaDB did not answer a ping within 60 s of its start")
	# Frappe creates tables in the server's default charset; .ci/run sets it at run time.
	subprocess.run(
		[
			"mariadb",
			"-uroot",
			"-e",
			"SET GLOBAL character_set_server='utf8mb4'; SET GLOBAL collation_server='utf8mb4_unicode_ci';",
		],
		check=True,
	)


def restart_redis():
	"""Stop Redis (nothing is kept on disk: queues and job hashes vanish) and start it as .ci/run does."""
	subprocess.run(["redis-cli", "-h", "127.0.0.1", "shutdown", "nosave"], capture_output=True, timeout=30)
	subprocess.run(
		[
			"redis-server",
			"--daemonize",
			"yes",
			"--bind",
			"127.0.0.1",
			"--port",
			"6379",
			"--save",
			"",
			"--appendonly",
			"no",
			"--dir",
			"/var/lib/redis",
		],
		check=True,
		timeout=30,
	)
	for _ in range(100):
		if subprocess.run(["redis-cli", "-h", "127.0.0.1", "ping"], capture_output=True).returncode == 0:
			break
		time.sleep(0.1)
	else:
		raise AssertionError("Redis did not answer a ping within 10 s of its start")


def reconnect():
	"""This test process's own connection died with the server: connect again."""
	import frappe

	frappe.connect()
	frappe.set_user("Administrator")
	frappe.flags.in_test = True


@pytest.fixture(scope="session", autouse=True)
def site():
	import frappe

	os.chdir(BENCH / "sites")
	frappe.init(site=SITE, sites_path=".")
	frappe.connect()
	frappe.set_user("Administrator")
	if not frappe.db.a_row_exists("Company"):
		# ERPNext's own test setup: runs the setup wizard once (company, fiscal year, masters).
		for method in frappe.get_hooks("before_tests", app_name="erpnext"):
			frappe.get_attr(method)()
	frappe.flags.in_test = True
	frappe.in_test = True  # Frappe 16's test mode (frappe.tests.utils.toggle_test_mode), which ERPNext reads
	yield frappe.local.site
	frappe.db.rollback()
	frappe.destroy()


@pytest.fixture(autouse=True)
def as_administrator():
	import frappe

	frappe.set_user("Administrator")
	frappe.flags.in_test = True
	yield
	frappe.db.rollback()
	frappe.set_user("Administrator")
	frappe.flags.in_test = True


@pytest.fixture
def world():
	"""Test data in its own outlet group, committed (workers only see committed rows), removed after."""
	from tests.integration.world import World

	world = World()
	yield world
	world.cleanup()


@pytest.fixture
def queues():
	"""RQ's long and short queues of this bench, emptied of scoopjoy jobs before and after."""
	from tests.integration.world import clear_scoopjoy_jobs

	clear_scoopjoy_jobs()
	yield
	clear_scoopjoy_jobs()


@pytest.fixture
def site_config():
	"""Set site config keys for the workers (they read site_config.json), and remove them after."""
	keys = []

	import frappe
	from frappe.installer import update_site_config

	def set_key(key, value):
		keys.append(key)
		update_site_config(key, value)
		frappe.local.conf[key] = value

	yield set_key
	for key in keys:
		update_site_config(key, "None")
		frappe.local.conf.pop(key, None)


@pytest.fixture(autouse=True)
def stock_posting(request):
	"""The ScoopJoy Settings mode for this test, committed (workers read it). Tests marked
	`consolidating` post real ERPNext documents; the others write invoices in bulk that hold only
	what marking reads, so they run in "Mark invoices only" mode. Restored afterwards."""
	import frappe

	from scoopjoy.scoopjoy.doctype.scoopjoy_settings.scoopjoy_settings import CONSOLIDATE, MARK_ONLY

	before = frappe.db.get_single_value("ScoopJoy Settings", "stock_posting")
	mode = CONSOLIDATE if request.node.get_closest_marker("consolidating") else MARK_ONLY
	frappe.db.set_single_value("ScoopJoy Settings", "stock_posting", mode)
	frappe.db.commit()
	yield mode
	frappe.db.rollback()
	frappe.db.set_single_value("ScoopJoy Settings", "stock_posting", before)
	frappe.db.commit()


def pytest_configure(config):
	config.addinivalue_line("markers", "consolidating: the test runs with stock posting on")
