"""Benchmark: the Outlet Sync Health report on many outlets and a long run history."""

import time
from unittest import mock

import frappe

from scoopjoy import stock_sync
from scoopjoy.benchmarks.fixtures import Fixture, stamp, stock_posting
from scoopjoy.benchmarks.sync_run import scoopjoy_run
from scoopjoy.scoopjoy.doctype.scoopjoy_settings.scoopjoy_settings import MARK_ONLY


def run(outlets: int = 5000, invoices_per_outlet: int = 10, history_runs: int = 200, repeat: int = 5):
	"""Time the Outlet Sync Health report on `outlets` outlets after a sync, with a mix of states (a
	third of the outlets with pending invoices again, a tenth failing) and `history_runs` old runs of
	history (one row per outlet each). Prints each query's plan."""
	from scoopjoy.scoopjoy.report.outlet_sync_health import outlet_sync_health

	stock_sync.check_sync_permission()
	fixture = Fixture(outlets, invoices_per_outlet)
	history = f"{fixture.tag}-HIST"
	try:
		with stock_posting(MARK_ONLY):
			scoopjoy_run(fixture.group, progress=False)
		mix_states(fixture)
		insert_history(fixture, history, history_runs)
		frappe.db.commit()  # nosemgrep: frappe-manual-commit
		timings = {}
		for label, filters in (
			("all outlets of the site", {}),
			("one outlet group", {"outlet_group": fixture.group}),
			("only problems", {"only_problems": 1}),
		):
			seconds = []
			for _ in range(repeat):
				started = time.perf_counter()
				rows = outlet_sync_health.execute(frappe._dict(filters))[1]
				seconds.append(time.perf_counter() - started)
			timings[label] = {"median_s": sorted(seconds)[len(seconds) // 2], "rows": len(rows)}
		plans = query_plans(lambda: outlet_sync_health.execute(frappe._dict()))
	finally:
		frappe.db.rollback()
		frappe.db.delete("Stock Sync Log Outlet", {"parent": ("like", f"{history}%")})
		fixture.remove()
	history_rows = history_runs * outlets
	print(f"\n{stamp()}")
	print(f"Outlet Sync Health: {outlets} outlets, {history_rows:,} rows of run history")
	for label, timing in timings.items():
		print(
			f"  {label:<26}{timing['rows']:>7} rows  {timing['median_s'] * 1000:8.1f} ms (median of {repeat})"
		)
	for query, plan in plans:
		print(f"\n  {query[:150]}…")
		for row in plan:
			print(
				f"    table={row['table']} type={row['type']} key={row['key']} rows={row['rows']} {row['Extra']}"
			)
	return {"timings": timings, "history_rows": history_rows}


def mix_states(fixture):
	"""A third of the outlets get their invoices pending again; a tenth failed their last run."""
	invoice = frappe.qb.DocType("POS Invoice")
	frappe.qb.update(invoice).set(invoice.custom_stock_synced, 0).where(
		invoice.set_warehouse.isin(fixture.warehouses[::3])
	).run()
	status = frappe.qb.DocType("Outlet Sync Status")
	failing = [f"{fixture.tag}-FA{i:05d}" for i in range(0, fixture.outlets, 10)]
	frappe.qb.update(status).set(status.last_result, "Failed").set(status.consecutive_failures, 3).set(
		status.last_error, "benchmark: failed"
	).where(status.name.isin(failing)).run()


def insert_history(fixture, history: str, runs: int):
	"""Old runs' outlet rows, as a year of hourly runs leaves them (the report must not read them)."""
	now = frappe.utils.now()
	outlets = [f"{fixture.tag}-FA{i:05d}" for i in range(fixture.outlets)]
	for run in range(runs):
		frappe.db.bulk_insert(
			"Stock Sync Log Outlet",
			[
				"name",
				"parent",
				"parenttype",
				"parentfield",
				"idx",
				"outlet",
				"result",
				"creation",
				"modified",
			],
			(
				(
					f"{history}{run:05d}-{i:05d}",
					f"{history}{run:05d}",
					"Stock Sync Log",
					"outlets",
					i,
					outlet,
					"Synced",
					now,
					now,
				)
				for i, outlet in enumerate(outlets)
			),
		)
		frappe.db.commit()  # nosemgrep: frappe-manual-commit


def query_plans(work) -> list[tuple[str, list[dict]]]:
	"""EXPLAIN of every SELECT `work` sends, as MariaDB received it (values already in place: how
	Frappe passes them differs between releases)."""
	queries = []
	original = frappe.db.sql

	def recording(query, *args, **kwargs):
		result = original(query, *args, **kwargs)
		if str(query).lstrip().upper().startswith("SELECT"):
			queries.append(frappe.db.last_query)
		return result

	with mock.patch.object(frappe.db, "sql", recording):
		work()
	return [
		(query, original(f"EXPLAIN {query}", as_dict=True))  # nosemgrep: frappe-using-db-sql
		for query in queries
		if "tabSingles" not in query  # settings lookups
	]
