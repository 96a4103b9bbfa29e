"""Benchmark: the seed's loop, scoopjoy's process_stock_sync and the database floor, on the same data
(the "Mark invoices only" mode, on invoices written in bulk)."""

import time
import tracemalloc
from contextlib import contextmanager
from unittest import mock

import frappe
from frappe.utils import create_batch

from scoopjoy import stock_sync
from scoopjoy.benchmarks.fixtures import Fixture, stamp, statements, stock_posting
from scoopjoy.liveness import discard_job
from scoopjoy.scoopjoy.doctype.scoopjoy_settings.scoopjoy_settings import MARK_ONLY


def run(outlets: int = 500, invoices_per_outlet: int = 100, memory: bool = True) -> list[dict]:
	"""Time the three variants (and ours without progress messages) and print a table."""
	stock_sync.check_sync_permission()
	fixture = Fixture(outlets, invoices_per_outlet)
	try:
		variants = {
			"seed loop": lambda: seed_process_stock_sync(fixture.group),
			"scoopjoy": lambda: scoopjoy_run(fixture.group),
			"scoopjoy, no progress": lambda: scoopjoy_run(fixture.group, progress=False),
			"floor": lambda: floor(fixture.group),
		}
		with stock_posting(MARK_ONLY):
			rows = [measure(name, variant, fixture, memory) for name, variant in variants.items()]
	finally:
		fixture.remove()
	print_table(rows, fixture)
	return rows


def seed_process_stock_sync(outlet_group: str):
	"""The seed, as it was: chunks of 50 outlets, a commit per chunk, try/except per outlet."""
	outlets = frappe.get_all(
		"Franchise Agreement",
		filters={"docstatus": 1, "agreement_status": "Active", "outlet_group": outlet_group},
		fields=["name", "franchise_name", "franchise_warehouse"],
		order_by="territory asc",
	)
	errors = []
	for chunk in create_batch(outlets, 50):
		for outlet in chunk:
			try:
				seed_sync_single_outlet(outlet)
			except Exception as e:
				errors.append({"outlet": outlet.name, "error": str(e)})
		frappe.db.commit()  # nosemgrep: frappe-manual-commit
	return errors


def seed_sync_single_outlet(outlet):
	"""The seed's per-outlet work: get_all with limit=100 (looped until done, so both variants do the
	same work), then one set_value per invoice."""
	warehouse = outlet.franchise_warehouse
	if not warehouse:
		raise frappe.ValidationError(f"No warehouse configured for {outlet.name}")
	while invoices := frappe.get_all(
		"POS Invoice",
		filters={"set_warehouse": warehouse, "docstatus": 1, "custom_stock_synced": 0},
		fields=["name"],
		limit=100,
	):
		for invoice in invoices:
			frappe.db.set_value("POS Invoice", invoice.name, "custom_stock_synced", 1)


def scoopjoy_run(outlet_group: str, progress: bool = True):
	"""process_stock_sync as one worker runs it (fan-out off: that is measured by fan_out.run), with its
	run record, per-outlet rows and realtime messages."""
	quiet = mock.patch.object(stock_sync, "publish_outlet_progress") if not progress else _nothing()
	with quiet, mock.patch.dict(frappe.local.conf, {"scoopjoy_fan_out_threshold": 10**9}):
		stock_sync.process_stock_sync(outlet_group, trigger="CLI")
	discard_job(stock_sync.report_job_id(outlet_group))  # the report it chained: not part of the run


def floor(outlet_group: str):
	"""The least the database must do: one UPDATE per chunk of 50 outlets, a commit per chunk."""
	warehouses = frappe.get_all(
		"Franchise Agreement",
		filters={"docstatus": 1, "agreement_status": "Active", "outlet_group": outlet_group},
		pluck="franchise_warehouse",
		order_by="territory asc",
	)
	invoice = frappe.qb.DocType("POS Invoice")
	for chunk in create_batch(warehouses, 50):
		frappe.qb.update(invoice).set(invoice.custom_stock_synced, 1).where(
			invoice.set_warehouse.isin(chunk) & (invoice.docstatus == 1) & (invoice.custom_stock_synced == 0)
		).run()
		frappe.db.commit()  # nosemgrep: frappe-manual-commit


@contextmanager
def _nothing():
	yield


def measure(name: str, variant, fixture, memory: bool) -> dict:
	fixture.reset()
	statements_before = statements()
	started = time.perf_counter()
	variant()
	seconds = time.perf_counter() - started
	sql = statements() - statements_before - 1
	assert fixture.pending() == 0, f"{name} left invoices unsynced"
	peak = None
	if memory:  # a second pass: tracemalloc slows Python down, so it is not timed
		fixture.reset()
		tracemalloc.start()
		variant()
		peak = tracemalloc.get_traced_memory()[1]
		tracemalloc.stop()
	return {
		"variant": name,
		"seconds": seconds,
		"invoices_per_second": fixture.invoices / seconds,
		"sql_statements": sql,
		"peak_python_mib": peak / 2**20 if peak is not None else None,
	}


def print_table(rows: list[dict], fixture):
	seed, ours, quiet, floor_ = (rows[i]["seconds"] for i in range(4))
	print(f"\n{stamp()}")
	print(
		f"stock sync benchmark: {fixture.outlets} outlets × {fixture.per_outlet} invoices = "
		f"{fixture.invoices} invoices"
	)
	print(f"{'variant':<24}{'wall s':>9}{'invoices/s':>12}{'SQL stmts':>11}{'peak MiB':>10}")
	for row in rows:
		peak = f"{row['peak_python_mib']:.1f}" if row["peak_python_mib"] is not None else "-"
		print(
			f"{row['variant']:<24}{row['seconds']:>9.2f}{row['invoices_per_second']:>12,.0f}"
			f"{row['sql_statements']:>11,}{peak:>10}"
		)
	print(
		f"ours/seed = {ours / seed:.3f}   ours/floor = {ours / floor_:.2f}   "
		f"progress overhead = {(ours - quiet) / quiet:+.1%}"
	)
