"""Benchmark: a 15-minute run of the busy hour with stock posting on, and what a day of each cadence
leaves in the ledger."""

import frappe

from scoopjoy import stock_sync
from scoopjoy.benchmarks.fixtures import (
	RUNS_PER_HOUR,
	PostingWorld,
	ledger_rows_per_outlet,
	print_ledger_rows,
	run_on_workers,
	stamp,
	stock_posting,
)
from scoopjoy.scoopjoy.doctype.scoopjoy_settings.scoopjoy_settings import CONSOLIDATE


def run(outlets: int = 500, sales_per_run: int = 5, trading_hours: int = 12) -> dict:
	"""A 15-minute run of the busy hour (20 sales an hour: 5 per outlet per quarter hour) with stock
	posting on, on one worker, timed; and what one run leaves in the ledger per outlet (Sales Invoices,
	GL Entries, Stock Ledger Entries), for the documents a day of each cadence costs. A run posts one
	consolidated Sales Invoice per outlet and customer whatever its number of sales, so a day's
	documents follow the number of runs that find sales."""
	stock_sync.check_sync_permission()
	world = PostingWorld(outlets, sales_per_run, copies=True)
	try:
		with stock_posting(CONSOLIDATE):
			seconds, ended, run_name = run_on_workers(world.group, 1, timeout=3600)
		consolidated = frappe.db.get_value("Stock Sync Log", run_name, "invoices_consolidated")
		assert (ended.status, consolidated) == ("Completed", world.invoices), (ended, consolidated)
		per_run = ledger_rows_per_outlet(run_name, outlets)
	finally:
		world.remove()
	per_day = {
		mode: {doctype: rows * runs * trading_hours for doctype, rows in per_run.items()}
		for mode, runs in RUNS_PER_HOUR.items()
	}
	print(f"\n{stamp()}")
	print(f"cadence: {outlets} outlets × {sales_per_run} sales, one run on 1 worker")
	print(f"wall time {seconds:.1f} s ({1000 * seconds / world.invoices:.1f} ms/sale)")
	print_ledger_rows("per outlet per run", per_run)
	for mode, rows in per_day.items():
		print_ledger_rows(f"per outlet per {trading_hours}-hour day, {mode}", rows)
	return {"seconds": seconds, "per_run": per_run, "per_day": per_day}
