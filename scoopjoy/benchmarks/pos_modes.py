"""Benchmark: what each of ERPNext 16's two POS modes leaves in the ledger per outlet and day."""

import frappe

from scoopjoy import erpnext_pos, pos_factories, stock_sync
from scoopjoy.benchmarks.fixtures import (
	RUNS_PER_HOUR,
	PostingWorld,
	ledger_rows_of,
	ledger_rows_per_outlet,
	print_ledger_rows,
	stamp,
	stock_posting,
)
from scoopjoy.scoopjoy.doctype.scoopjoy_settings.scoopjoy_settings import CONSOLIDATE


def run(sales_per_hour: int = 20, trading_hours: int = 12) -> dict:
	"""ERPNext 16's two POS modes, what each leaves in the ledger per outlet and day (README and the
	Outlet Sync Health report quote it). One outlet sells an hour's `sales_per_hour` sales (one item
	each, 1-3 scoops) as POS Invoices, which one sync run posts; then the same as "Sales Invoice" mode
	sales, each a Sales Invoice that posts at once. Per day: Sales Invoice mode posts every sale; POS
	Invoice mode posts a Sales Invoice with its GL per run that finds sales (RUNS_PER_HOUR), and a Stock
	Ledger Entry per sold line."""
	if not erpnext_pos.offers().has_sales_invoice_mode:
		raise RuntimeError("POS Settings has no Invoice Type here: ERPNext 16's two POS modes only")
	stock_sync.check_sync_permission()
	before = frappe.db.get_single_value("POS Settings", "invoice_type")
	frappe.db.set_single_value("POS Settings", "invoice_type", "POS Invoice")
	world = PostingWorld(1, sales_per_hour)
	try:
		with stock_posting(CONSOLIDATE):
			stock_sync.process_stock_sync(world.group)
		frappe.db.rollback()
		[run_name] = frappe.get_all("Stock Sync Log", filters={"outlet_group": world.group}, pluck="name")
		per_run = ledger_rows_per_outlet(run_name, 1)
		frappe.db.set_single_value("POS Settings", "invoice_type", "Sales Invoice")
		profile = world.profiles[0]
		item, customer = f"{world.tag}-SCOOP", f"{world.tag} Walk-in"
		company = pos_factories.default_company()
		sold = [
			pos_factories.sell_as_sales_invoice(company, profile, customer, {item: 1 + j % 3})
			for j in range(sales_per_hour)
		]
		frappe.db.commit()  # nosemgrep: frappe-manual-commit
		per_hour_si = ledger_rows_of(sold)
	finally:
		frappe.db.rollback()
		frappe.db.set_single_value("POS Settings", "invoice_type", before)
		frappe.db.commit()  # nosemgrep: frappe-manual-commit
		world.remove()
	# A run makes one Sales Invoice (and its GL) per outlet and customer whatever it posts, and one Stock
	# Ledger Entry per sold line (ERPNext 16 keeps a consolidated item row per sale): the first follow
	# the runs, the second the sales (the run above posted an hour of them).
	per_day = {"Sales Invoice mode": {d: n * trading_hours for d, n in per_hour_si.items()}} | {
		f"POS Invoice mode, {mode}": {
			d: n * trading_hours * (1 if d == "Stock Ledger Entry" else runs) for d, n in per_run.items()
		}
		for mode, runs in RUNS_PER_HOUR.items()
	}
	print(f"\n{stamp()}")
	print(f"pos modes: one outlet, {sales_per_hour} sales an hour (1 item each)")
	print_ledger_rows("one sync run of an hour's POS Invoices", per_run)
	print_ledger_rows("an hour's Sales Invoice mode sales", per_hour_si)
	for mode, rows in per_day.items():
		print_ledger_rows(f"per outlet per {trading_hours}-hour day, {mode}", rows)
	return {"per_run": per_run, "per_hour_sales_invoice_mode": per_hour_si, "per_day": per_day}
