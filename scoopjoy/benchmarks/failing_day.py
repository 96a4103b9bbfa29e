"""Benchmark: a failing day, sales ERPNext refuses isolated inside an outlet."""

import time

import frappe

from scoopjoy import pos_factories, stock_sync
from scoopjoy.benchmarks.fixtures import PREFIX, stamp
from scoopjoy.savepoint import forget_rolled_back_rows
from scoopjoy.scoopjoy.doctype.scoopjoy_settings.scoopjoy_settings import CONSOLIDATE

FAILING_SHAPES = {  # name: positions (in posting order) of the sales ERPNext will refuse
	"clean": (),
	"1 bad in 20": (10,),
	"3 bad in 20": (3, 10, 16),
	"every sale bad": tuple(range(20)),
}


def run(invoices_per_outlet: int = 20, repeat: int = 3) -> list[dict]:
	"""One outlet per shape, its POS Invoices made through ERPNext: a clean one, one with 1 sale ERPNext
	refuses (not enough stock: a Material Issue took the item after the sale), one with 3, one whose
	every sale is refused alike. Each outlet's posting (stock_posting.post_outlet_stock, isolation
	included) is timed inside a transaction rolled back afterwards, `repeat` times; the fastest run
	counts. Reports wall time, attempts (consolidations tried) and the cost next to the clean outlet."""
	from scoopjoy.sale_isolation import SaleIndependentFailure
	from scoopjoy.stock_posting import post_outlet_stock, posting_session

	stock_sync.check_sync_permission()
	tag = f"{PREFIX}{frappe.generate_hash(length=5).upper()}"
	company = pos_factories.default_company()
	scoop, mango = pos_factories.make_item(f"{tag}-SCOOP"), pos_factories.make_item(f"{tag}-MANGO")
	customer = pos_factories.make_customer(f"{tag} Walk-in")
	outlets = {}
	for i, (shape, bad) in enumerate(FAILING_SHAPES.items()):
		bad = [b for b in bad if b < invoices_per_outlet]
		warehouse = frappe.get_doc(
			{"doctype": "Warehouse", "warehouse_name": f"{tag} F{i}", "company": company}
		).insert()
		profile = pos_factories.make_pos_profile(f"{tag} F{i}", company, warehouse.name, customer)
		stock = {(scoop, warehouse.name): 10 * invoices_per_outlet}
		if bad:
			stock[(mango, warehouse.name)] = len(bad)
		pos_factories.move_stock(company, stock, "Material Receipt")
		for j in range(invoices_per_outlet):
			pos_factories.sell(company, profile, customer, {mango: 1} if j in bad else {scoop: 1 + j % 3})
		if bad:  # the mango leaves before the sync: every mango sale is short
			pos_factories.move_stock(company, {(mango, warehouse.name): len(bad)}, "Material Issue")
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
	print(f"\n{stamp()}")
	print(f"failing day: 1 outlet per shape × {invoices_per_outlet} POS Invoices made through ERPNext")
	print(f"{'shape':<18}{'wall s':>8}{'× clean':>9}{'attempts':>10}{'posted':>8}{'held':>6}")
	for row in rows:
		row["x_clean"] = row["seconds"] / clean
		print(
			f"{row['shape']:<18}{row['seconds']:>8.2f}{row['x_clean']:>9.2f}{row['attempts']:>10}"
			f"{row['consolidated']:>8}{row['held']:>6}"
		)
	return rows
