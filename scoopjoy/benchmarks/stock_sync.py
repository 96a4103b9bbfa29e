"""Benchmark: the seed's loop, scoopjoy's process_stock_sync and the database floor, on the same data.

	bench --site SITE execute scoopjoy.benchmarks.stock_sync.run \\
		--kwargs "{'outlets': 500, 'invoices_per_outlet': 100}"
	bench --site SITE execute scoopjoy.benchmarks.stock_sync.fan_out \\
		--kwargs "{'outlets': 5000, 'invoices_per_outlet': 10, 'workers': [1, 2]}"
	bench --site SITE execute scoopjoy.benchmarks.stock_sync.posting \\
		--kwargs "{'outlets': 500, 'invoices_per_outlet': 2}"
	bench --site SITE execute scoopjoy.benchmarks.stock_sync.consolidation \\
		--kwargs "{'outlets': 50, 'invoices_per_outlet': 20}"
	bench --site SITE execute scoopjoy.benchmarks.stock_sync.posting_at_scale \\
		--kwargs "{'outlets': 500, 'invoices_per_outlet': 20, 'workers': [1, 2]}"
	bench --site SITE execute scoopjoy.benchmarks.stock_sync.health_report \\
		--kwargs "{'outlets': 5000, 'history_runs': 200}"
	bench --site SITE execute scoopjoy.benchmarks.stock_sync.failing_day \\
		--kwargs "{'invoices_per_outlet': 20, 'repeat': 3}"

`run` and `fan_out` measure the "Mark invoices only" mode on invoices written in bulk; everything they
create is named SJBENCH… and removed at the end. `posting` measures stock posting on POS Invoices made
through ERPNext (scoopjoy.demo); its ledger documents stay, as posted stock does. Use a test site: it
commits.
"""

import os
import platform
import subprocess
import time
import tracemalloc
from contextlib import contextmanager
from unittest import mock

import frappe
from frappe.installer import update_site_config
from frappe.query_builder.functions import Count, Sum
from frappe.utils import create_batch, get_bench_path, nowdate
from frappe.utils.nestedset import rebuild_tree

from scoopjoy import demo, stock_sync
from scoopjoy.savepoint import forget_rolled_back_rows
from scoopjoy.scoopjoy.doctype.scoopjoy_settings.scoopjoy_settings import CONSOLIDATE, MARK_ONLY
from scoopjoy.scoopjoy.doctype.stock_sync_log.stock_sync_log import discard_job

PREFIX = "SJBENCH"


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


# ── the three variants ──────────────────────────────────────────────────────────────────────


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
	"""process_stock_sync as one worker runs it (fan-out off: that is measured by fan_out()), with its
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


# ── measuring ───────────────────────────────────────────────────────────────────────────────


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


def statements() -> int:
	"""Statements this connection has sent, as MariaDB counts them."""
	return int(frappe.db.sql("SHOW SESSION STATUS LIKE 'Questions'")[0][1])  # nosemgrep: frappe-using-db-sql


def print_table(rows: list[dict], fixture):
	seed, ours, quiet, floor_ = (rows[i]["seconds"] for i in range(4))
	print(
		f"\nstock sync benchmark: {fixture.outlets} outlets × {fixture.per_outlet} invoices = "
		f"{fixture.invoices} invoices; {machine()}"
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


def machine() -> str:
	version = frappe.db.sql("SELECT VERSION()")[0][0]  # nosemgrep: frappe-using-db-sql
	return f"{os.cpu_count()} cores, Python {platform.python_version()}, MariaDB {version}, Frappe {frappe.__version__}"


# ── fan-out: one run over several workers ───────────────────────────────────────────────────


def fan_out(
	outlets: int = 5000, invoices_per_outlet: int = 10, workers: list[int] | None = None
) -> list[dict]:
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
	print(f"\nfan-out: {fixture.outlets} outlets × {fixture.per_outlet} invoices; {machine()}")
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


def run_on_workers(group: str, count: int, timeout: int = 1800) -> tuple[float, dict, str]:
	"""Start `count` workers, enqueue a sync of the group and time it to its end: (seconds, the run's
	end state, its name)."""
	processes = start_workers(count)
	try:
		started = time.perf_counter()
		run_name = stock_sync.enqueue_stock_sync(group)["sync_log"]
		ended = wait_for_run(run_name, timeout)
		return time.perf_counter() - started, ended, run_name
	finally:
		for process in processes:
			process.kill()
			process.wait()


def start_workers(count: int) -> list[subprocess.Popen]:
	env = {k: v for k, v in os.environ.items() if k != "CI"}
	processes = [
		subprocess.Popen(
			["bench", "--site", frappe.local.site, "worker", "--queue", "long,short"],
			cwd=get_bench_path(),
			env=env,
			stdout=subprocess.DEVNULL,
			stderr=subprocess.DEVNULL,
		)
		for _ in range(count)
	]
	time.sleep(6)  # let them start, so start-up is not timed
	return processes


def wait_for_run(name: str, timeout: int = 1800):
	deadline = time.monotonic() + timeout
	while time.monotonic() < deadline:
		frappe.db.rollback()
		run = frappe.db.get_value(
			"Stock Sync Log", name, ["status", "awaiting_report", "fan_out_jobs", "ended_on"], as_dict=True
		)
		if run.ended_on and not run.awaiting_report:
			return run
		time.sleep(0.2)
	raise TimeoutError(name)


# ── stock posting ───────────────────────────────────────────────────────────────────────────


def posting(outlets: int = 500, invoices_per_outlet: int = 2) -> dict:
	"""One run with stock posting on, in this process as one worker runs it (fan-out off), over
	outlets whose POS Invoices were made and submitted through ERPNext. Reports the wall time, the
	cost per invoice, SQL statements and the longest transaction (chunk) the run held."""
	stock_sync.check_sync_permission()
	started = time.perf_counter()
	world = PostingWorld(outlets, invoices_per_outlet)
	made_in = time.perf_counter() - started
	with stock_posting(CONSOLIDATE):
		statements_before = statements()
		started = time.perf_counter()
		chunks = scoopjoy_posting(world)
		seconds = time.perf_counter() - started
		sql = statements() - statements_before - 1
	discard_job(stock_sync.report_job_id(world.group))
	log = frappe.get_last_doc("Stock Sync Log", filters={"outlet_group": world.group})
	assert (log.invoices_consolidated, log.failed) == (world.invoices, 0), log.summary
	result = {
		"outlets": outlets,
		"invoices": world.invoices,
		"fixture_seconds": made_in,
		"seconds": seconds,
		"ms_per_invoice": 1000 * seconds / world.invoices,
		"sql_statements": sql,
		"chunks": len(chunks),
		"longest_transaction_s": max(chunks),
		"sales_invoices": len(log.consolidations),
	}
	world.remove()
	print(
		f"\nstock posting: {outlets} outlets × {invoices_per_outlet} POS Invoices made through ERPNext "
		f"({world.invoices} invoices, made in {made_in:.0f} s); {machine()}\n"
		f"sync with posting on: {seconds:.1f} s wall, {result['ms_per_invoice']:.0f} ms/invoice, "
		f"{sql:,} SQL statements, {len(chunks)} chunks, longest transaction {max(chunks):.2f} s, "
		f"{result['sales_invoices']} consolidated Sales Invoices"
	)
	return result


# ── consolidation: ERPNext's own merge logs against the sync, on the same POS Invoices ──────


def consolidation(outlets: int = 50, invoices_per_outlet: int = 20, repeat: int = 1) -> list[dict]:
	"""ERPNext's own POS Invoice Merge Log per outlet (what each outlet's POS closing does:
	`create_merge_logs`, with ERPNext's update_pos_invoices) against the sync with posting on
	(process_stock_sync, in this process, fan-out off), on the same POS Invoices made through ERPNext.
	Each variant runs in one transaction rolled back afterwards: the reset, so every variant starts
	from the same data (commits are left out of both). Their ledgers are compared before the reset."""
	stock_sync.check_sync_permission()
	world = PostingWorld(outlets, invoices_per_outlet)
	rows = []
	try:
		variants = {
			"ERPNext merge log per outlet": lambda: erpnext_closings(world),
			"scoopjoy, posting on": lambda: scoopjoy_posting(world),
		}
		digests = {}
		for _ in range(repeat):
			for name, variant in variants.items():
				row, digests[name] = measure_rolled_back(name, variant, world)
				rows.append(row)
		assert len({repr(digest) for digest in digests.values()}) == 1, digests  # the same ledger either way
	finally:
		world.remove()
	print(
		f"\nconsolidation: {outlets} outlets × {invoices_per_outlet} POS Invoices made through ERPNext "
		f"({world.invoices} invoices); {machine()}"
	)
	print(f"{'variant':<32}{'wall s':>8}{'ms/invoice':>12}{'SQL stmts':>11}{'longest tx s':>14}")
	for row in rows:
		print(
			f"{row['variant']:<32}{row['seconds']:>8.1f}{row['ms_per_invoice']:>12.1f}"
			f"{row['sql_statements']:>11,}{row['longest_transaction_s']:>14.2f}"
		)
	erpnext_ms = min(r["ms_per_invoice"] for r in rows if r["variant"].startswith("ERPNext"))
	ours_ms = min(r["ms_per_invoice"] for r in rows if r["variant"].startswith("scoopjoy"))
	print(f"ERPNext / scoopjoy per invoice: ×{erpnext_ms / ours_ms:.2f}")
	return rows


def posting_at_scale(
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
	print(f"\nposting at scale: {outlets} outlets × {invoices_per_outlet} invoices; {machine()}")
	for row in rows:
		print(
			f"{row['workers']} worker(s): {row['seconds']:.1f} s for {row['invoices']} invoices "
			f"({row['ms_per_invoice']:.1f} ms/invoice) over {row['batches']} batches, "
			f"speed-up ×{rows[0]['seconds'] / row['seconds']:.2f}"
		)
	return rows


# ── cadence: stock within 15 minutes ────────────────────────────────────────────────────────
RUNS_PER_HOUR = {"Every 5 minutes": 12, "Every 15 minutes": 4, "Hourly": 1}


def cadence(outlets: int = 500, sales_per_run: int = 5, trading_hours: int = 12) -> dict:
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
	print(f"\ncadence: {outlets} outlets × {sales_per_run} sales, one run on 1 worker; {machine()}")
	print(f"wall time {seconds:.1f} s ({1000 * seconds / world.invoices:.1f} ms/sale)")
	print_ledger_rows("per outlet per run", per_run)
	for mode, rows in per_day.items():
		print_ledger_rows(f"per outlet per {trading_hours}-hour day, {mode}", rows)
	return {"seconds": seconds, "per_run": per_run, "per_day": per_day}


def pos_modes(sales_per_hour: int = 20, trading_hours: int = 12) -> dict:
	"""ERPNext 16's two POS modes, what each leaves in the ledger per outlet and day (README and the
	Outlet Sync Health report quote it). One outlet sells an hour's `sales_per_hour` sales (one item
	each, 1-3 scoops) as POS Invoices, which one sync run posts; then the same as "Sales Invoice" mode
	sales, each a Sales Invoice that posts at once. Per day: Sales Invoice mode posts every sale; POS
	Invoice mode posts a Sales Invoice with its GL per run that finds sales (RUNS_PER_HOUR), and a Stock
	Ledger Entry per sold line."""
	if not frappe.get_meta("POS Settings").has_field("invoice_type"):
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
		company = demo.default_company()
		sold = [
			demo.sell_as_sales_invoice(company, profile, customer, {item: 1 + j % 3})
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
	print(f"\npos modes: one outlet, {sales_per_hour} sales an hour (1 item each); {machine()}")
	print_ledger_rows("one sync run of an hour's POS Invoices", per_run)
	print_ledger_rows("an hour's Sales Invoice mode sales", per_hour_si)
	for mode, rows in per_day.items():
		print_ledger_rows(f"per outlet per {trading_hours}-hour day, {mode}", rows)
	return {"per_run": per_run, "per_hour_sales_invoice_mode": per_hour_si, "per_day": per_day}


def print_ledger_rows(label: str, rows: dict):
	print(f"{label}: " + ", ".join(f"{n:g} {doctype}" for doctype, n in rows.items()))


def ledger_rows_of(vouchers: list[str]) -> dict:
	filters = {"voucher_type": "Sales Invoice", "voucher_no": ("in", vouchers or [""]), "is_cancelled": 0}
	return {
		"Sales Invoice": len(vouchers),
		"GL Entry": frappe.db.count("GL Entry", filters),
		"Stock Ledger Entry": frappe.db.count("Stock Ledger Entry", filters),
	}


def ledger_rows_per_outlet(run_name: str, outlets: int) -> dict:
	vouchers = frappe.get_all(
		"Stock Sync Log Consolidation", filters={"parent": run_name}, pluck="sales_invoice"
	) + [
		v
		for v in frappe.get_all(
			"Stock Sync Log Consolidation", filters={"parent": run_name}, pluck="credit_note"
		)
		if v
	]
	return {doctype: rows / outlets for doctype, rows in ledger_rows_of(vouchers).items()}


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


def erpnext_closings(world) -> list[float]:
	"""Per outlet, what its POS Closing Entry consolidates: ERPNext's create_merge_logs over the
	outlet's POS Invoices grouped by customer. Returns each outlet's time (its own transaction)."""
	from erpnext.accounts.doctype.pos_invoice_merge_log.pos_invoice_merge_log import (
		create_merge_logs,
		get_invoice_customer_map,
	)

	seconds = []
	for profile in world.profiles:
		began = time.perf_counter()
		invoices = frappe.get_all(
			"POS Invoice",
			filters={"pos_profile": profile, "docstatus": 1, "consolidated_invoice": ("is", "not set")},
			fields=[
				"name as pos_invoice",
				"customer",
				"posting_date",
				"grand_total",
				"is_return",
				"return_against",
			],
			order_by="posting_date asc, posting_time asc, name asc",
		)
		create_merge_logs(get_invoice_customer_map(invoices))
		seconds.append(time.perf_counter() - began)
	return seconds


def scoopjoy_posting(world) -> list[float]:
	"""One sync of the world's group with posting on, as one worker runs it; returns each chunk's time."""
	chunks = []
	sync_chunk = stock_sync.sync_chunk

	def timed_chunk(run, chunk):
		began = time.perf_counter()
		try:
			return sync_chunk(run, chunk)
		finally:
			chunks.append(time.perf_counter() - began)

	with (
		mock.patch.object(stock_sync, "sync_chunk", timed_chunk),
		mock.patch.dict(frappe.local.conf, {"scoopjoy_fan_out_threshold": 10**9}),
	):
		stock_sync.process_stock_sync(world.group, trigger="CLI")
	return chunks


def measure_rolled_back(name: str, variant, world) -> tuple[dict, dict]:
	"""Time the variant inside one transaction, digest what it posted, roll it all back."""
	with stock_posting(CONSOLIDATE):
		with mock.patch.object(frappe.db, "commit", lambda *args, **kwargs: None):
			statements_before = statements()
			started = time.perf_counter()
			transactions = variant()
			seconds = time.perf_counter() - started
			sql = statements() - statements_before - 1
			digest = ledger_digest(world)
			frappe.db.rollback()  # while commits are still held back: nothing of the variant stays
		forget_rolled_back_rows()
	assert digest["consolidated"] == world.invoices, (name, digest)
	return {
		"variant": name,
		"invoices": world.invoices,
		"seconds": seconds,
		"ms_per_invoice": 1000 * seconds / world.invoices,
		"sql_statements": sql,
		"longest_transaction_s": max(transactions),
	}, digest


def ledger_digest(world) -> dict:
	"""What the world's consolidation posted, name-free: enough to tell two ledgers apart."""
	invoice = frappe.qb.DocType("POS Invoice")
	linked = (
		frappe.qb.from_(invoice)
		.select(invoice.consolidated_invoice)
		.where(invoice.pos_profile.isin(world.profiles) & (invoice.status == "Consolidated"))
		.run(pluck=True)
	)
	vouchers = sorted(set(linked))
	sle = frappe.get_all(
		"Stock Ledger Entry",
		filters={"voucher_no": ("in", vouchers or [""]), "is_cancelled": 0},
		fields=["warehouse", "actual_qty", "stock_value_difference", "qty_after_transaction"],
		order_by="warehouse asc, creation asc",
		as_list=True,
	)
	gle = frappe.qb.DocType("GL Entry")
	gl = (
		frappe.qb.from_(gle)
		.select(gle.account, Sum(gle.debit), Sum(gle.credit), Count("*"))
		.where(gle.voucher_no.isin(vouchers or [""]) & (gle.is_cancelled == 0))
		.groupby(gle.account)
		.orderby(gle.account)
		.run()
	)
	ple = frappe.db.count("Payment Ledger Entry", {"voucher_no": ("in", vouchers or [""]), "delinked": 0})
	return {"consolidated": len(linked), "vouchers": len(vouchers), "sle": sle, "gl": gl, "ple": ple}


class PostingWorld:
	"""Outlets with stock, a POS Profile each and POS Invoices, named SJBENCH…. By default every one
	made through ERPNext. With copies=True (the 10,000-invoice runs) only the first outlet is: its
	warehouse, POS Profile and POS Invoices are made through ERPNext, and every other outlet's are
	bulk-written copies of them (scoopjoy.demo.copy_documents / copy_sales; test_bulk_linking proves a
	copied invoice posts what its original posts); the warehouse tree is rebuilt once."""

	def __init__(self, outlets: int, per_outlet: int, copies: bool = False):
		self.invoices = outlets * per_outlet
		self.tag = f"{PREFIX}{frappe.generate_hash(length=5).upper()}"
		self.group = self.tag
		company = demo.default_company()
		frappe.get_doc({"doctype": "Outlet Group", "outlet_group_name": self.group}).insert()
		item = demo.make_item(f"{self.tag}-SCOOP")
		customer = demo.make_customer(f"{self.tag} Walk-in")
		made = outlets if not copies else 1
		warehouses, profiles = [], []
		for i in range(made):
			warehouse = frappe.get_doc(
				{"doctype": "Warehouse", "warehouse_name": f"{self.tag} P{i:04d}", "company": company}
			).insert()
			warehouses.append(warehouse.name)
			profiles.append(demo.make_pos_profile(f"{self.tag} P{i:04d}", company, warehouse.name, customer))
			if i % 100 == 99:
				frappe.db.commit()  # nosemgrep: frappe-manual-commit
		if copies:
			abbr = frappe.get_cached_value("Company", company, "abbr")
			more = [(f"{self.tag} P{i:04d}", f"{self.tag} P{i:04d} - {abbr}") for i in range(1, outlets)]
			demo.copy_documents(
				"Warehouse", warehouses[0], [{"name": w, "warehouse_name": n} for n, w in more]
			)
			rebuild_tree("Warehouse")
			demo.copy_documents("POS Profile", profiles[0], [{"name": n, "warehouse": w} for n, w in more])
			warehouses += [w for _n, w in more]
			profiles += [n for n, _w in more]
		self.profiles = profiles
		self.agreements = [f"{self.tag}-FA{i:05d}" for i in range(outlets)]
		insert_agreements(self.agreements, warehouses, self.tag, self.group)
		demo.move_stock(company, {(item, w): 10 * per_outlet for w in warehouses}, "Material Receipt")
		frappe.db.commit()  # nosemgrep: frappe-manual-commit
		for profile in profiles[:made]:
			sold = [demo.sell(company, profile, customer, {item: 1 + j % 3}) for j in range(per_outlet)]
			frappe.db.commit()  # nosemgrep: frappe-manual-commit
		if copies:
			demo.copy_sales(
				sold, list(zip(warehouses[1:], profiles[1:], strict=True)), per_outlet, f"{self.tag}-COPY"
			)
			frappe.db.commit()  # nosemgrep: frappe-manual-commit

	def remove(self):
		"""scoopjoy's records go; the posted ledger, its warehouses and POS Invoices stay."""
		logs = frappe.get_all("Stock Sync Log", filters={"outlet_group": self.group}, pluck="name")
		for child in ("Stock Sync Log Outlet", "Stock Sync Log Consolidation"):
			frappe.db.delete(child, {"parent": ("in", logs or [""])})
		frappe.db.delete("Stock Sync Log", {"name": ("in", logs or [""])})
		frappe.db.delete("Franchise Agreement", {"name": ("in", self.agreements)})
		frappe.db.delete("Outlet Group", self.group)
		frappe.db.commit()  # nosemgrep: frappe-manual-commit


# ── a failing day: sales isolated inside an outlet ─────────────────────────────────────────────

FAILING_SHAPES = {  # name: positions (in posting order) of the sales ERPNext will refuse
	"clean": (),
	"1 bad in 20": (10,),
	"3 bad in 20": (3, 10, 16),
	"every sale bad": tuple(range(20)),
}


def failing_day(invoices_per_outlet: int = 20, repeat: int = 3) -> list[dict]:
	"""One outlet per shape, its POS Invoices made through ERPNext: a clean one, one with 1 sale ERPNext
	refuses (not enough stock: a Material Issue took the item after the sale), one with 3, one whose
	every sale is refused alike. Each outlet's posting (stock_posting.post_outlet_stock, isolation
	included) is timed inside a transaction rolled back afterwards, `repeat` times; the fastest run
	counts. Reports wall time, attempts (consolidations tried) and the cost next to the clean outlet."""
	from scoopjoy.stock_posting import SaleIndependentFailure, post_outlet_stock, posting_session

	stock_sync.check_sync_permission()
	tag = f"{PREFIX}{frappe.generate_hash(length=5).upper()}"
	company = demo.default_company()
	scoop, mango = demo.make_item(f"{tag}-SCOOP"), demo.make_item(f"{tag}-MANGO")
	customer = demo.make_customer(f"{tag} Walk-in")
	outlets = {}
	for i, (shape, bad) in enumerate(FAILING_SHAPES.items()):
		bad = [b for b in bad if b < invoices_per_outlet]
		warehouse = frappe.get_doc(
			{"doctype": "Warehouse", "warehouse_name": f"{tag} F{i}", "company": company}
		).insert()
		profile = demo.make_pos_profile(f"{tag} F{i}", company, warehouse.name, customer)
		stock = {(scoop, warehouse.name): 10 * invoices_per_outlet}
		if bad:
			stock[(mango, warehouse.name)] = len(bad)
		demo.move_stock(company, stock, "Material Receipt")
		for j in range(invoices_per_outlet):
			demo.sell(company, profile, customer, {mango: 1} if j in bad else {scoop: 1 + j % 3})
		if bad:  # the mango leaves before the sync: every mango sale is short
			demo.move_stock(company, {(mango, warehouse.name): len(bad)}, "Material Issue")
		frappe.db.commit()  # nosemgrep: frappe-manual-commit
		outlets[shape] = frappe._dict(
			name=f"{tag}-F{i}", franchise_name=shape, franchise_warehouse=warehouse.name, warehouse_disabled=0
		)

	rows = []
	with posting_session():
		frappe.db.commit()  # nosemgrep: frappe-manual-commit
		for shape, outlet in outlets.items():
			best = None
			for _ in range(repeat):
				started = time.perf_counter()
				try:
					posted = post_outlet_stock(outlet, CONSOLIDATE)
					attempts, held, consolidated = (
						posted["attempts"],
						posted["invoices_held"],
						posted["invoices_consolidated"],
					)
				except SaleIndependentFailure as e:
					attempts, held, consolidated = e.attempts, 0, 0
				seconds = time.perf_counter() - started
				frappe.db.rollback()  # the reset: every repetition starts from the same sales
				forget_rolled_back_rows()
				if best is None or seconds < best["seconds"]:
					best = {"shape": shape, "seconds": seconds, "attempts": attempts}
					best.update(held=held, consolidated=consolidated)
			rows.append(best)
	clean = rows[0]["seconds"]
	print(
		f"\nfailing day: 1 outlet per shape × {invoices_per_outlet} POS Invoices made through ERPNext; {machine()}"
	)
	print(f"{'shape':<18}{'wall s':>8}{'× clean':>9}{'attempts':>10}{'posted':>8}{'held':>6}")
	for row in rows:
		row["x_clean"] = row["seconds"] / clean
		print(
			f"{row['shape']:<18}{row['seconds']:>8.2f}{row['x_clean']:>9.2f}{row['attempts']:>10}"
			f"{row['consolidated']:>8}{row['held']:>6}"
		)
	return rows


@contextmanager
def stock_posting(mode: str):
	"""Run in this ScoopJoy Settings mode (committed: workers read it), then restore the site's."""
	before = frappe.db.get_single_value("ScoopJoy Settings", "stock_posting")
	frappe.db.set_single_value("ScoopJoy Settings", "stock_posting", mode)
	frappe.db.commit()  # nosemgrep: frappe-manual-commit
	try:
		yield
	finally:
		frappe.db.set_single_value("ScoopJoy Settings", "stock_posting", before)
		frappe.db.commit()  # nosemgrep: frappe-manual-commit


# ── the data ────────────────────────────────────────────────────────────────────────────────


class Fixture:
	"""Outlets, warehouses and pending POS Invoices written in bulk, all named SJBENCH…."""

	def __init__(self, outlets: int, per_outlet: int):
		self.outlets, self.per_outlet, self.invoices = outlets, per_outlet, outlets * per_outlet
		self.tag = f"{PREFIX}{frappe.generate_hash(length=5).upper()}"
		self.group = self.tag
		company = demo.default_company()
		abbr = frappe.get_cached_value("Company", company, "abbr")
		territory = frappe.get_all("Territory", filters={"is_group": 0}, pluck="name", limit=1)[0]
		now = frappe.utils.now()
		audit = (now, now, "Administrator", "Administrator")
		self.warehouses = [f"{self.tag} W{i:05d} - {abbr}" for i in range(outlets)]

		frappe.get_doc({"doctype": "Outlet Group", "outlet_group_name": self.group}).insert()
		frappe.db.bulk_insert(
			"Warehouse",
			[
				"name",
				"warehouse_name",
				"company",
				"disabled",
				"is_group",
				"creation",
				"modified",
				"owner",
				"modified_by",
			],
			[(w, w, company, 0, 0, *audit) for w in self.warehouses],
		)
		insert_agreements(
			[f"{self.tag}-FA{i:05d}" for i in range(outlets)],
			self.warehouses,
			self.tag,
			self.group,
			territory,
		)
		insert_pending_invoices(
			company,
			(
				(f"{self.tag}-{i:05d}-{j:04d}", w, 1)
				for i, w in enumerate(self.warehouses)
				for j in range(per_outlet)
			),
		)
		frappe.db.commit()  # nosemgrep: frappe-manual-commit

	def reset(self):
		invoice = frappe.qb.DocType("POS Invoice")
		frappe.qb.update(invoice).set(invoice.custom_stock_synced, 0).where(
			invoice.name.like(f"{self.tag}-%")
		).run()
		self.remove_logs()
		frappe.db.commit()  # nosemgrep: frappe-manual-commit

	def pending(self) -> int:
		frappe.db.rollback()
		return frappe.db.count("POS Invoice", {"name": ("like", f"{self.tag}-%"), "custom_stock_synced": 0})

	def remove_logs(self):
		logs = frappe.get_all("Stock Sync Log", filters={"outlet_group": self.group}, pluck="name")
		if logs:
			frappe.db.delete("Stock Sync Log Outlet", {"parent": ("in", logs)})
			frappe.db.delete("Stock Sync Log", {"name": ("in", logs)})

	def remove(self):
		frappe.db.rollback()
		self.remove_logs()
		frappe.db.delete("POS Invoice", {"name": ("like", f"{self.tag}-%")})
		frappe.db.delete("Error Log", {"reference_name": ("like", f"{self.tag}-%")})
		frappe.db.delete("Outlet Sync Status", {"name": ("like", f"{self.tag}-%")})
		frappe.db.delete("Franchise Agreement", {"name": ("like", f"{self.tag}-%")})
		frappe.db.delete("Warehouse", {"name": ("like", f"{self.tag} W%")})
		frappe.db.delete("Outlet Group", self.group)
		frappe.db.commit()  # nosemgrep: frappe-manual-commit


# ── the Outlet Sync Health report ───────────────────────────────────────────────────────────


def health_report(
	outlets: int = 5000, invoices_per_outlet: int = 10, history_runs: int = 200, repeat: int = 5
):
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
	print(f"\nOutlet Sync Health: {outlets} outlets, {history_rows:,} rows of run history; {machine()}")
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
	"""EXPLAIN of every SELECT `work` sends."""
	queries = []
	original = frappe.db.sql

	def recording(query, *args, **kwargs):
		if str(query).lstrip().upper().startswith("SELECT"):
			queries.append((str(query), args[0] if args else kwargs.get("values")))
		return original(query, *args, **kwargs)

	with mock.patch.object(frappe.db, "sql", recording):
		work()
	return [
		(query, original(f"EXPLAIN {query}", values, as_dict=True))  # nosemgrep: frappe-using-db-sql
		for query, values in queries
		if "tabSingles" not in query  # settings lookups
	]


def insert_agreements(names: list[str], warehouses: list[str], tag: str, group: str, territory=None):
	"""Submitted, active Franchise Agreements written in bulk, one per warehouse."""
	territory = territory or demo.leaf("Territory")
	now = frappe.utils.now()
	frappe.db.bulk_insert(
		"Franchise Agreement",
		[
			"name",
			"franchise_name",
			"franchise_warehouse",
			"outlet_group",
			"territory",
			"agreement_status",
			"docstatus",
			"creation",
			"modified",
			"owner",
			"modified_by",
		],
		[
			(
				name,
				f"{tag} Outlet {i}",
				w,
				group,
				territory,
				"Active",
				1,
				now,
				now,
				"Administrator",
				"Administrator",
			)
			for i, (name, w) in enumerate(zip(names, warehouses, strict=True))
		],
	)


def insert_pending_invoices(company: str, invoices):
	"""Write POS Invoices in bulk, unsynced: (name, warehouse, docstatus) each. Only the columns the
	sync reads are filled; these are test and benchmark rows, not sales."""
	now = frappe.utils.now()
	frappe.db.bulk_insert(
		"POS Invoice",
		[
			"name",
			"docstatus",
			"company",
			"posting_date",
			"set_warehouse",
			"custom_stock_synced",
			"creation",
			"modified",
			"owner",
			"modified_by",
		],
		(
			(name, docstatus, company, nowdate(), warehouse, 0, now, now, "Administrator", "Administrator")
			for name, warehouse, docstatus in invoices
		),
	)
