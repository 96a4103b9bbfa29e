"""Benchmark: the busy hour with stock posting on, fanned out over 1, then 2 (…) real `bench worker`
processes."""

import frappe
from frappe.installer import update_site_config

from scoopjoy import stock_sync
from scoopjoy.benchmarks.fixtures import PostingWorld, run_on_workers, stamp, stock_posting
from scoopjoy.scoopjoy.doctype.scoopjoy_settings.scoopjoy_settings import CONSOLIDATE


def run(
	outlets: int = 500, invoices_per_outlet: int = 20, workers: list[int] | None = None, batch: int = 25
) -> list[dict]:
	"""The busy hour with stock posting on: `outlets` × `invoices_per_outlet` POS Invoices (copies of
	ERPNext-made ones, written in bulk), synced by 1, then 2 (…) real `bench worker` processes, the run
	fanned out in batch jobs of `batch` outlets. Each worker count gets a world of its own, built the
	same way (posted stock cannot be reset)."""
	stock_sync.check_sync_permission()
	rows = []
	update_site_config("scoopjoy_fan_out_threshold", 1)
	update_site_config("scoopjoy_fan_out_batch", batch)
	try:
		for count in workers or [1, 2]:
			world = PostingWorld(outlets, invoices_per_outlet, copies=True)
			try:
				with stock_posting(CONSOLIDATE):
					rows.append(time_posting_run(world, count))
			finally:
				world.remove()
	finally:
		update_site_config("scoopjoy_fan_out_threshold", "None")
		update_site_config("scoopjoy_fan_out_batch", "None")
	print(f"\n{stamp()}")
	print(f"posting at scale: {outlets} outlets × {invoices_per_outlet} invoices")
	for row in rows:
		print(
			f"{row['workers']} worker(s): {row['seconds']:.1f} s for {row['invoices']} invoices "
			f"({row['ms_per_invoice']:.1f} ms/invoice) over {row['batches']} batches, "
			f"speed-up ×{rows[0]['seconds'] / row['seconds']:.2f}"
		)
	return rows


def time_posting_run(world, count: int) -> dict:
	seconds, ended, run_name = run_on_workers(world.group, count, timeout=3600)
	consolidated = frappe.db.get_value("Stock Sync Log", run_name, "invoices_consolidated")
	assert (ended.status, consolidated) == ("Completed", world.invoices), (ended, consolidated)
	return {
		"workers": count,
		"invoices": world.invoices,
		"seconds": seconds,
		"ms_per_invoice": 1000 * seconds / world.invoices,
		"batches": ended.fan_out_jobs,
	}
