"""Benchmark: one sync run with stock posting on, over POS Invoices made through ERPNext."""

import time
from unittest import mock

import frappe

from scoopjoy import stock_sync
from scoopjoy.benchmarks.fixtures import PostingWorld, stamp, statements, stock_posting
from scoopjoy.liveness import discard_job
from scoopjoy.scoopjoy.doctype.scoopjoy_settings.scoopjoy_settings import CONSOLIDATE


def run(outlets: int = 500, invoices_per_outlet: int = 2) -> dict:
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
	print(f"\n{stamp()}")
	print(
		f"stock posting: {outlets} outlets × {invoices_per_outlet} POS Invoices made through ERPNext "
		f"({world.invoices} invoices, made in {made_in:.0f} s)\n"
		f"sync with posting on: {seconds:.1f} s wall, {result['ms_per_invoice']:.0f} ms/invoice, "
		f"{sql:,} SQL statements, {len(chunks)} chunks, longest transaction {max(chunks):.2f} s, "
		f"{result['sales_invoices']} consolidated Sales Invoices"
	)
	return result


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
