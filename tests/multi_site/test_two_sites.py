"""Two sites of one bench, on one MariaDB server and one Redis, sync at the same time with colliding run
names (the second site's naming series is set so its run gets the first site's run name), with and
without fan-out batches: each run completes on its own, records only its own outlets, no worker's
connection is ended and no trigger raises.

The second site is $SCOOPJOY_OTHER_SITE: a site of the same bench with ERPNext (and its test setup) and
scoopjoy installed. scripts/check-fresh-install runs this module on the site it has just installed."""

import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from rq import Worker

frappe = pytest.importorskip("frappe", reason="Frappe tier skipped: no Frappe bench (FRAPPE_BENCH)")

from frappe.installer import update_site_config  # noqa: E402
from frappe.model.naming import NamingSeries  # noqa: E402
from frappe.utils.background_jobs import get_queue  # noqa: E402

from scoopjoy import stock_sync  # noqa: E402
from scoopjoy.scoopjoy.doctype.scoopjoy_settings.scoopjoy_settings import CONSOLIDATE, MARK_ONLY  # noqa: E402
from tests.integration.conftest import BENCH, kill_9, start_worker, worker_family  # noqa: E402
from tests.integration.world import World, wait_until  # noqa: E402

OTHER_SITE = os.environ.get("SCOOPJOY_OTHER_SITE")
if not OTHER_SITE:
	raise RuntimeError(
		"tests/multi_site needs SCOOPJOY_OTHER_SITE: a second site of the bench with ERPNext and scoopjoy "
		"(scripts/check-fresh-install runs these tests on its throwaway site)"
	)
SERIES = "SSL-.YYYY.-.#####"
OUTLETS = 24  # with the thresholds below: three fan-out batches per site
PAUSE = 0.3  # seconds per outlet's row: each run lasts several seconds, so the two overlap


class OtherSite:
	"""Work done on the second site: a thread of its own, where frappe is initialised for that site
	(frappe.local is per thread), so both sites are open in this test at once."""

	def __init__(self, site: str):
		self.site = site
		self.thread = ThreadPoolExecutor(max_workers=1, initializer=self._connect)

	def _connect(self):
		frappe.init(site=self.site, sites_path=str(BENCH / "sites"))
		frappe.connect()
		frappe.set_user("Administrator")
		frappe.flags.in_test = False  # its jobs go to the workers (Frappe 16's init copies the test mode)

	def __call__(self, work, *args, **kwargs):
		def in_site():
			try:
				return work(*args, **kwargs)
			finally:
				frappe.db.commit()

		return self.thread.submit(in_site).result(timeout=600)

	def close(self):
		self.thread.submit(frappe.destroy).result()
		self.thread.shutdown()


@pytest.fixture
def other_site():
	site = OtherSite(OTHER_SITE)
	before = site(frappe.db.get_single_value, "ScoopJoy Settings", "stock_posting")
	site(frappe.db.set_single_value, "ScoopJoy Settings", "stock_posting", MARK_ONLY)
	site.config_keys = []
	yield site
	for key in site.config_keys:
		site(update_site_config, key, "None")
	site(frappe.db.set_single_value, "ScoopJoy Settings", "stock_posting", before)
	site.close()


def selling_world(outlets: int, pause: float) -> World:
	"""Outlets with pending invoices whose sync takes `pause` seconds each, so two runs overlap."""
	world = World()
	for i in range(outlets):
		world.make_selling_outlet(f"M{i:03d}", 3)
	world.pause_on(
		"BEFORE INSERT", "tabStock Sync Log Outlet", f"NEW.franchise_name LIKE '{world.tag} M%'", pause
	)
	world.commit()
	return world


def next_run_name() -> str:
	series = NamingSeries(SERIES)
	return series.get_prefix() + f"{series.get_current_value() + 1:05d}"


def listening(workers) -> int:
	"""How many of these worker processes RQ lists as workers of the long queue."""
	pids = {w.pid for w in Worker.all(queue=get_queue("long"))}
	return sum(1 for worker in workers if pids & set(worker_family(worker)))


def collide_run_names(other_site):
	"""Both sites' next run gets the same name, one that neither site has used yet (a fresh site's
	first sync may be ahead of a test site that never synced)."""
	current = max(
		NamingSeries(SERIES).get_current_value(),
		other_site(lambda: NamingSeries(SERIES).get_current_value()),
	)
	NamingSeries(SERIES).update_counter(current)
	other_site(lambda: NamingSeries(SERIES).update_counter(current))
	assert other_site(next_run_name) == next_run_name()


def run_state(name: str) -> dict:
	return frappe.db.get_value(
		"Stock Sync Log",
		name,
		["status", "resume_count", "processed", "succeeded", "failed", "total_outlets", "fan_out_jobs"],
		as_dict=True,
	)


def recorded_outlets(name: str) -> set[str]:
	return set(frappe.get_all("Stock Sync Log Outlet", filters={"parent": name}, pluck="outlet"))


def errors_about(names: list[str]) -> int:
	return frappe.db.count("Error Log", {"reference_name": ("in", names)})


@pytest.mark.parametrize("fan_out", [False, True], ids=["one job", "fan-out"])
def test_two_sites_sync_at_once_with_the_same_run_name(other_site, site_config, fan_out, queues):
	if fan_out:  # both sites: the site config keys are read per site
		for key, value in (("scoopjoy_fan_out_threshold", 10), ("scoopjoy_fan_out_batch", 10)):
			site_config(key, value)
			other_site(update_site_config, key, value)
			other_site.config_keys.append(key)
	here = selling_world(OUTLETS, PAUSE)
	there = other_site(selling_world, OUTLETS, PAUSE)
	collide_run_names(other_site)
	workers = [start_worker("long,short") for _ in range(2)]
	try:
		# Both workers listening before anything is queued: each site's run gets one at once, so the two
		# overlap (a worker starting late, as on a loaded machine, would leave one run to finish first).
		wait_until(lambda: listening(workers) == len(workers), timeout=120)
		frappe.flags.in_test = False
		reply_here = stock_sync.enqueue_stock_sync(here.group)
		frappe.db.commit()
		reply_there = other_site(stock_sync.enqueue_stock_sync, there.group)
		assert reply_here["sync_log"] == reply_there["sync_log"], "the run names must collide"
		name = reply_here["sync_log"]
		assert "queued" in reply_here["message"] and "queued" in reply_there["message"]

		# Triggers during both runs answer without raising, and never take a live run for dead.
		wait_until(lambda: run_state(name).status == "Running", timeout=120)
		wait_until(lambda: other_site(run_state, name).status == "Running", timeout=120)
		again_here = stock_sync.enqueue_stock_sync(here.group)
		frappe.db.commit()
		again_there = other_site(stock_sync.enqueue_stock_sync, there.group)
		for reply in (again_here, again_there):
			assert reply["sync_log"] == name and "already running" in reply["message"], reply

		wait_until(lambda: run_state(name).status == "Completed", timeout=300)
		wait_until(lambda: other_site(run_state, name).status == "Completed", timeout=300)
		assert all(worker.poll() is None for worker in workers), "no worker may die"
	finally:
		for worker in workers:
			kill_9(worker)

	for state in (run_state(name), other_site(run_state, name)):
		assert (state.resume_count, state.failed) == (0, 0), state  # nobody took over, nothing failed
		assert state.processed == state.succeeded == state.total_outlets == OUTLETS, state
		assert state.fan_out_jobs == (3 if fan_out else 0), state
	assert recorded_outlets(name) == set(here.outlets)
	assert other_site(recorded_outlets, name) == set(there.outlets)
	assert (
		frappe.db.count("POS Invoice", {"set_warehouse": ("in", here.warehouses), "custom_stock_synced": 0})
		== 0
	)
	assert (
		other_site(
			frappe.db.count,
			"POS Invoice",
			{"set_warehouse": ("in", there.warehouses), "custom_stock_synced": 0},
		)
		== 0
	)
	assert errors_about([name, *here.outlets]) == 0
	assert other_site(errors_about, [name, *there.outlets]) == 0
	here.cleanup()
	other_site(there.cleanup)


@pytest.fixture
def fetched_from_the_customer():
	"""A read-only Sales Invoice field fetched from the customer's tax id, as sites add them: Frappe's
	mapper fills it by loading the customer, on every ERPNext version (ERPNext's own tax_id is fetched
	so only from 15.9x on)."""
	from frappe.custom.doctype.custom_field.custom_field import create_custom_field

	fieldname = "scoopjoy_customer_tax_id"
	create_custom_field(
		"Sales Invoice",
		{
			"fieldname": fieldname,
			"label": "Customer Tax Id",
			"fieldtype": "Data",
			"read_only": 1,
			"fetch_from": "customer.tax_id",
			"insert_after": "customer",
		},
	)
	frappe.db.commit()
	yield fieldname
	frappe.delete_doc("Custom Field", f"Sales Invoice-{fieldname}", force=True)
	frappe.db.commit()


def test_each_site_loads_its_own_documents_while_the_other_consolidates(
	other_site, fetched_from_the_customer
):
	"""One process, two threads, two sites: while this site's sync consolidates (ERPNext mapping every
	sale onto the Sales Invoice, loading its customer for a fetched field: the sync loads each master
	once per merge log), a thread of the other site keeps loading a customer of the same name. Each site
	sees only its own customer: the sync's shortcut lives in its own call, not in frappe.get_doc."""
	import threading

	world = World()
	scoop = world.make_item("SCOOP")
	outlet = world.make_stocked_outlet("Twin", {scoop: 100})
	customer = world.make_customer("Shared Name")
	frappe.db.set_value("Customer", customer, "tax_id", "THIS-SITE")
	sales = [world.sell(outlet, {scoop: 1}, customer=customer) for _ in range(40)]
	world.commit()

	def other_customer():
		if not frappe.db.exists("Customer", customer):
			frappe.get_doc(
				{"doctype": "Customer", "customer_name": customer, "customer_type": "Individual"}
			).insert(set_name=customer)
		frappe.db.set_value("Customer", customer, "tax_id", "OTHER-SITE")

	other_site(other_customer)
	syncing, seen = threading.Event(), []

	def keep_loading():
		assert syncing.wait(timeout=120), "this site's sync never began"
		while syncing.is_set():
			seen.append(frappe.get_doc("Customer", customer).tax_id)
		frappe.db.rollback()

	loading = other_site.thread.submit(keep_loading)
	posting = frappe.db.get_single_value("ScoopJoy Settings", "stock_posting")
	frappe.db.set_single_value("ScoopJoy Settings", "stock_posting", CONSOLIDATE)
	try:
		syncing.set()
		stock_sync.process_stock_sync(outlet.group)
	finally:
		syncing.clear()
		frappe.db.set_single_value("ScoopJoy Settings", "stock_posting", posting)
	loading.result(timeout=120)

	assert seen and set(seen) == {"OTHER-SITE"}, f"{len(seen)} loads, saw {set(seen)}"
	consolidated = set(
		frappe.get_all("POS Invoice", filters={"name": ("in", sales)}, pluck="consolidated_invoice")
	)
	assert len(consolidated) == 1 and None not in consolidated
	fetched = frappe.db.get_value("Sales Invoice", consolidated.pop(), fetched_from_the_customer)
	assert fetched == "THIS-SITE"
	other_site(frappe.delete_doc, "Customer", customer, force=True)
	world.cleanup()
