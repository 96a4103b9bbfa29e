"""Benchmark: ERPNext's own POS Invoice Merge Logs against the sync with posting on, on the same POS
Invoices."""

import time
from contextlib import contextmanager
from unittest import mock

import frappe
from frappe.query_builder.functions import Count, Sum

from scoopjoy import erpnext_pos, stock_sync
from scoopjoy.benchmarks.fixtures import PostingWorld, stamp, statements, stock_posting
from scoopjoy.benchmarks.posting import scoopjoy_posting
from scoopjoy.savepoint import forget_rolled_back_rows
from scoopjoy.scoopjoy.doctype.scoopjoy_settings.scoopjoy_settings import CONSOLIDATE


def run(outlets: int = 50, invoices_per_outlet: int = 20, repeat: int = 1) -> list[dict]:
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
	print(f"\n{stamp()}")
	print(
		f"consolidation: {outlets} outlets × {invoices_per_outlet} POS Invoices made through ERPNext "
		f"({world.invoices} invoices)"
	)
	print(
		f"{'variant':<32}{'wall s':>8}{'ms/invoice':>12}{'SQL stmts':>11}{'longest tx s':>14}"
		f"{'SI posting ms/inv':>19}"
	)
	for row in rows:
		print(
			f"{row['variant']:<32}{row['seconds']:>8.1f}{row['ms_per_invoice']:>12.1f}"
			f"{row['sql_statements']:>11,}{row['longest_transaction_s']:>14.2f}"
			f"{row['sales_invoice_ms_per_invoice']:>19.1f}"
		)
	erpnext = min((r for r in rows if r["variant"].startswith("ERPNext")), key=lambda r: r["ms_per_invoice"])
	ours_ms = min(r["ms_per_invoice"] for r in rows if r["variant"].startswith("scoopjoy"))
	print(f"ERPNext / scoopjoy per invoice: ×{erpnext['ms_per_invoice'] / ours_ms:.2f}")
	print(
		"ceiling, were the sync to cost nothing but ERPNext's own Sales Invoice posting: "
		f"×{erpnext['ms_per_invoice'] / erpnext['sales_invoice_ms_per_invoice']:.2f}"
	)
	return rows


def erpnext_closings(world) -> list[float]:
	"""Per outlet, what its POS Closing Entry consolidates: ERPNext's create_merge_logs over the
	outlet's POS Invoices grouped by customer. Returns each outlet's time (its own transaction)."""
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
		erpnext_pos.create_merge_logs(erpnext_pos.get_invoice_customer_map(invoices))
		seconds.append(time.perf_counter() - began)
	return seconds


def measure_rolled_back(name: str, variant, world) -> tuple[dict, dict]:
	"""Time the variant inside one transaction, digest what it posted, roll it all back."""
	with stock_posting(CONSOLIDATE):
		with mock.patch.object(frappe.db, "commit", lambda *args, **kwargs: None):
			statements_before = statements()
			started = time.perf_counter()
			with timing_sales_invoice_posting() as posting:
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
		"sales_invoice_ms_per_invoice": 1000 * posting["seconds"] / world.invoices,
	}, digest


@contextmanager
def timing_sales_invoice_posting():
	"""The time spent inside the consolidated Sales Invoices' own save and submit: ERPNext's stock and GL
	posting, the same on both paths (the part of the cost the sync may not change)."""
	spent = {"seconds": 0.0}
	inside = []

	def timed(method):
		def wrapper(doc, *args, **kwargs):
			if inside or not doc.get("is_consolidated"):
				return method(doc, *args, **kwargs)
			inside.append(doc)  # submit() saves: count the outer call only
			began = time.perf_counter()
			try:
				return method(doc, *args, **kwargs)
			finally:
				spent["seconds"] += time.perf_counter() - began
				inside.pop()

		return wrapper

	with (
		mock.patch.object(erpnext_pos.SalesInvoice, "save", timed(erpnext_pos.SalesInvoice.save)),
		mock.patch.object(erpnext_pos.SalesInvoice, "submit", timed(erpnext_pos.SalesInvoice.submit)),
	):
		yield spent


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
