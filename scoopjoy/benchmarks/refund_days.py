"""Benchmark: what posting a day in the shop's order costs. Outlets whose every `refund_every`-th invoice
refunds the sale before it, posted by the sync twice: with a scoop in stock per sale (ERPNext's own
grouping posts it: the sync's first attempt does, as ERPNext's merge log does, which is the reference),
and with just what the day sells net of its refunds, so the shop never runs short and ends at 0 (ERPNext's
grouping is refused for want of stock: the sync posts the day in the shop's order)."""

import frappe

from scoopjoy import erpnext_pos
from scoopjoy.benchmarks.consolidation import erpnext_closings, measure_rolled_back
from scoopjoy.benchmarks.fixtures import PostingWorld, stamp
from scoopjoy.benchmarks.posting import scoopjoy_posting


def run(outlets: int = 10, invoices_per_outlet: int = 21, refund_every: int = 2) -> list[dict]:
	from scoopjoy import stock_sync

	stock_sync.check_sync_permission()
	rows = []
	for refunds in ("plenty", "just enough"):
		world = PostingWorld(outlets, invoices_per_outlet, refunds=refunds, refund_every=refund_every)
		try:
			rows.append(erpnext_row(world, refunds))
			counted = {}
			row, _digest = measure_rolled_back(
				f"scoopjoy, {refunds}",
				lambda world=world, counted=counted: counted_sync(world, counted),
				world,
			)
			rows.append(row | counted | {"stock": refunds})
		finally:
			world.remove()
	print(f"\n{stamp()}")
	print(
		f"refund days: {outlets} outlets × {invoices_per_outlet} POS Invoices (1 in {refund_every} a refund "
		"of the sale before it) made through ERPNext"
	)
	print(f"{'variant':<34}{'wall s':>8}{'ms/invoice':>12}{'Sales Invoices':>16}{'attempts/outlet':>17}")
	for row in rows:
		if row.get("refused"):
			print(f"{row['variant']:<34}  refused: {row['refused']}")
			continue
		print(
			f"{row['variant']:<34}{row['seconds']:>8.1f}{row['ms_per_invoice']:>12.1f}"
			f"{row.get('sales_invoices', ''):>16}{row.get('attempts_per_outlet', ''):>17}"
		)
	return rows


def erpnext_row(world, refunds: str) -> dict:
	"""ERPNext's own merge log per outlet, the reference where it posts; where it refuses, its reason."""
	try:
		row, _digest = measure_rolled_back(
			f"ERPNext merge log, {refunds}", lambda: erpnext_closings(world), world
		)
		return row
	except erpnext_pos.SHORT_OF_STOCK as refused:
		frappe.db.rollback()  # ERPNext's create_merge_logs rolled its attempt back already
		return {"variant": f"ERPNext merge log, {refunds}", "refused": type(refused).__name__}


def counted_sync(world, counted: dict) -> list[float]:
	"""The sync of the world's group; records, before the rollback, how many Sales Invoices (credit notes
	included) it made and its attempts per outlet."""
	chunks = scoopjoy_posting(world)
	[run] = frappe.get_all("Stock Sync Log", filters={"outlet_group": world.group}, pluck="name")
	made = frappe.get_all(
		"Stock Sync Log Consolidation", filters={"parent": run}, fields=["sales_invoice", "credit_note"]
	)
	attempts = frappe.get_all("Stock Sync Log Outlet", filters={"parent": run}, pluck="attempts")
	counted["sales_invoices"] = len({d for row in made for d in (row.sales_invoice, row.credit_note) if d})
	counted["attempts_per_outlet"] = round(sum(attempts) / len(attempts), 1)
	return chunks
