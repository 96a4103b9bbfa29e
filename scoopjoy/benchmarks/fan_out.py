"""Benchmark: one fanned-out run of the "Mark invoices only" mode over 1, then 2 (…) real `bench worker`
processes."""

from frappe.installer import update_site_config

from scoopjoy import stock_sync
from scoopjoy.benchmarks.fixtures import Fixture, run_on_workers, stamp, stock_posting
from scoopjoy.scoopjoy.doctype.scoopjoy_settings.scoopjoy_settings import MARK_ONLY


def run(outlets: int = 5000, invoices_per_outlet: int = 10, workers: list[int] | None = None) -> list[dict]:
	"""Time one fanned-out run with 1, then 2 (…) real `bench worker` processes."""
	stock_sync.check_sync_permission()
	fixture = Fixture(outlets, invoices_per_outlet)
	rows = []
	try:
		update_site_config("scoopjoy_fan_out_threshold", 1)
		for count in workers or [1, 2]:
			fixture.reset()
			with stock_posting(MARK_ONLY):
				rows.append(time_fanned_out_run(fixture, count))
	finally:
		update_site_config("scoopjoy_fan_out_threshold", "None")
		fixture.remove()
	print(f"\n{stamp()}")
	print(f"fan-out: {fixture.outlets} outlets × {fixture.per_outlet} invoices")
	for row in rows:
		print(
			f"{row['workers']} worker(s): {row['seconds']:.2f} s over {row['batches']} batches, "
			f"speed-up ×{rows[0]['seconds'] / row['seconds']:.2f}"
		)
	return rows


def time_fanned_out_run(fixture, count: int) -> dict:
	seconds, ended, _run = run_on_workers(fixture.group, count)
	assert fixture.pending() == 0 and ended.status == "Completed", ended
	return {"workers": count, "seconds": seconds, "batches": ended.fan_out_jobs}
