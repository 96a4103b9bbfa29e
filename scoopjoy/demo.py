"""Demo data: `bench --site SITE scoopjoy-demo [--remove]`. Outlets, items, stock and POS Invoices made
through ERPNext (scoopjoy.pos_factories), named "ScoopJoy Demo …", and their removal with everything the
demo and syncs of its outlets made."""

import frappe
from frappe import _

from scoopjoy import erpnext_pos
from scoopjoy.pos_factories import (
	available,
	default_company,
	make_customer,
	make_item,
	make_pos_profile,
	move_stock,
	sell,
)
from scoopjoy.scoopjoy.doctype.outlet_sync_status.outlet_sync_status import forget_runs
from scoopjoy.scoopjoy.doctype.stock_sync_log.stock_sync_log import CHILD_TABLES

DEMO = "ScoopJoy Demo"
REGIONS = ("North", "South", "Central")
FLAVOURS = ("Vanilla", "Chocolate", "Strawberry")


def use_pos_invoices():
	"""ERPNext 16: make the POS sell POS Invoices (POS Settings' Invoice Type), as a site migrated from
	15 does; `bench --site SITE execute scoopjoy.demo.use_pos_invoices`. Nothing to do on ERPNext 15."""
	erpnext_pos.use_pos_invoices()


def build_demo(outlets: int = 50, invoices: int = 20, echo=print, name: str = DEMO) -> dict:
	"""A demo world, everything named "ScoopJoy Demo …": an outlet group and territory per region,
	three ice-cream items, per outlet a warehouse with opening stock, a POS Profile, a submitted
	Franchise Agreement and `invoices` POS Invoices made through ERPNext; plus two outlets that fail
	for reasons an operator recognises: one without a warehouse, one whose stock was taken out after
	its sales. Re-runnable: masters are reused, and every outlet is topped up to `invoices` invoices
	not yet consolidated, so each run leaves something to sync. Refused where the POS sells Sales
	Invoices (ERPNext 16's default for new sites): there is nothing for the sync to post. `name`: the
	prefix of every name (a test's own demo)."""
	if erpnext_pos.pos_sells_sales_invoices():
		frappe.throw(
			_(
				"The demo sells POS Invoices, which the stock sync posts; this site's POS makes Sales "
				"Invoices instead. Set POS Settings' Invoice Type to POS Invoice to use the demo."
			)
		)
	company = default_company()
	items = [enabled("Item", make_item(f"{name} {flavour}")) for flavour in FLAVOURS]
	customer = enabled("Customer", make_customer(f"{name} Walk-in", demo_territory(name, REGIONS[0])))
	made = 0
	for i in range(outlets):
		region = REGIONS[i % len(REGIONS)]
		outlet = demo_outlet(name, company, f"{name} Outlet {i + 1:03d}", region, customer)
		lines = [{items[(i + j) % len(items)]: 1 + j % 3} for j in range(invoices)]
		made += top_up_sales(company, outlet, customer, lines)
		frappe.db.commit()  # nosemgrep: frappe-manual-commit
		if (i + 1) % 10 == 0 or i + 1 == outlets:
			echo(f"{i + 1}/{outlets} outlets ready, {made} POS Invoices made")

	short = demo_outlet(name, company, f"{name} Outlet Short of Stock", REGIONS[0], customer)
	short_sales = top_up_sales(company, short, customer, [{items[0]: 3}])
	made += short_sales
	if short_sales:
		# After its sales, stock leaves the outlet another way: one scoop is left for three sold.
		on_hand = frappe.db.get_value(
			"Bin", {"item_code": items[0], "warehouse": short.warehouse}, "actual_qty"
		)
		move_stock(company, {(items[0], short.warehouse): on_hand - 1}, "Material Issue")
	demo_agreement(name, f"{name} Outlet Without Warehouse", REGIONS[0], warehouse=None)
	frappe.db.commit()  # nosemgrep: frappe-manual-commit
	return {"outlets": outlets + 2, "invoices_made": made, "groups": [demo_group(name, r) for r in REGIONS]}


def enabled(doctype: str, name: str) -> str:
	"""`--remove` disables what ERPNext will not let it delete; a new demo takes it back into use."""
	frappe.db.set_value(doctype, name, "disabled", 0)
	return name


def demo_territory(demo: str, region: str) -> str:
	name = f"{demo} {region}"
	if not frappe.db.exists("Territory", name):
		root = frappe.db.get_value("Territory", {"is_group": 1, "parent_territory": ("in", ("", None))})
		frappe.get_doc({"doctype": "Territory", "territory_name": name, "parent_territory": root}).insert()
	return name


def demo_group(demo: str, region: str) -> str:
	name = f"{demo} {region}"
	if not frappe.db.exists("Outlet Group", name):
		frappe.get_doc({"doctype": "Outlet Group", "outlet_group_name": name}).insert()
	return name


def demo_outlet(demo: str, company: str, label: str, region: str, customer: str) -> frappe._dict:
	warehouse = frappe.db.get_value("Warehouse", {"warehouse_name": label, "company": company})
	if not warehouse:
		warehouse = (
			frappe.get_doc({"doctype": "Warehouse", "warehouse_name": label, "company": company})
			.insert()
			.name
		)
	if frappe.db.exists("POS Profile", label):
		profile = enabled("POS Profile", label)
	else:
		profile = make_pos_profile(label, company, warehouse, customer)
	demo_agreement(demo, label, region, enabled("Warehouse", warehouse))
	return frappe._dict(warehouse=warehouse, pos_profile=profile)


def demo_agreement(demo: str, label: str, region: str, warehouse: str | None):
	if frappe.db.exists("Franchise Agreement", {"franchise_name": label, "docstatus": 1}):
		return
	frappe.get_doc(
		{
			"doctype": "Franchise Agreement",
			"franchise_name": label,
			"franchise_warehouse": warehouse,
			"territory": demo_territory(demo, region),
			"outlet_group": demo_group(demo, region),
		}
	).insert().submit()


def top_up_sales(company: str, outlet: dict, customer: str, lines: list[dict]) -> int:
	"""Sell until the outlet has len(lines) invoices not yet consolidated; receive the stock they need."""
	pending = frappe.db.count(
		"POS Invoice",
		{"pos_profile": outlet.pos_profile, "docstatus": 1, "consolidated_invoice": ("is", "not set")},
	)
	to_sell = lines[pending:]
	needed = {}
	for line in to_sell:
		for item, qty in line.items():
			needed[item] = needed.get(item, 0) + qty
	shortfall = {
		(item, outlet.warehouse): qty - available(item, outlet.warehouse) + 10
		for item, qty in needed.items()
		if available(item, outlet.warehouse) < qty
	}
	if shortfall:
		move_stock(company, shortfall, "Material Receipt")
	for line in to_sell:
		sell(company, outlet.pos_profile, customer, line)
	return len(to_sell)


def remove_demo(echo=print, name: str = DEMO):
	"""Take the demo back the way ERPNext allows: cancel what it posted (stock and GL are reversed) and
	its shifts, delete its ScoopJoy records (outlets, groups, the runs of its groups with their rows,
	held sales, standings, their error logs and alerts) and disable its POS Profiles, warehouses, items
	and customer (ERPNext keeps ledger entries, so their masters cannot be deleted)."""
	profiles = frappe.get_all("POS Profile", filters={"name": ("like", f"{name}%")}, pluck="name")
	cancel_sales(profiles, echo)
	warehouses = frappe.get_all("Warehouse", filters={"warehouse_name": ("like", f"{name}%")}, pluck="name")
	cancel_stock_entries(warehouses, echo)
	agreements = frappe.get_all(
		"Franchise Agreement", filters={"franchise_name": ("like", f"{name}%")}, pluck="name"
	)
	groups = [f"{name} {region}" for region in REGIONS]
	delete_records(agreements, groups)
	for profile in profiles:
		frappe.db.set_value("POS Profile", profile, "disabled", 1)
	for warehouse in warehouses:
		frappe.db.set_value("Warehouse", warehouse, "disabled", 1)
	for flavour in FLAVOURS:
		frappe.db.set_value("Item", f"{name} {flavour}", "disabled", 1)
	frappe.db.set_value("Customer", f"{name} Walk-in", "disabled", 1)
	frappe.db.commit()  # nosemgrep: frappe-manual-commit
	echo(f"removed {len(agreements)} demo outlets, their groups and sync logs; disabled their masters")


def cancel_sales(profiles: list[str], echo):
	"""Shift closings first (ERPNext's cancel takes back their merge logs and reopens the shift), then
	the sync's merge logs, the sales (returns first) and the shifts themselves."""
	in_profiles = {"pos_profile": ("in", profiles or [""]), "docstatus": 1}
	closings = frappe.get_all(
		"POS Closing Entry", filters=in_profiles, pluck="name", order_by="creation desc"
	)
	for closing in closings:
		frappe.get_doc("POS Closing Entry", closing).cancel()
	invoices = frappe.get_all("POS Invoice", filters=in_profiles, pluck="name")
	merge_logs = frappe.get_all(
		"POS Invoice Reference",
		filters={"pos_invoice": ("in", invoices or [""])},
		pluck="parent",
		distinct=True,
	)
	for merge_log in merge_logs:
		log = frappe.get_doc("POS Invoice Merge Log", merge_log)
		if log.docstatus == 1:
			log.cancel()  # ERPNext cancels its consolidated Sales Invoice and credit note
	for invoice in sorted(invoices, key=lambda n: -frappe.db.get_value("POS Invoice", n, "is_return")):
		frappe.get_doc("POS Invoice", invoice).cancel()  # returns first
	# ERPNext 16 gives a cashier one open shift: an open demo shift would keep its cashier busy.
	shifts = frappe.get_all("POS Opening Entry", filters=in_profiles, pluck="name")
	for shift in shifts:
		frappe.get_doc("POS Opening Entry", shift).cancel()
	frappe.db.commit()  # nosemgrep: frappe-manual-commit
	echo(
		f"cancelled {len(closings)} shift closings, {len(merge_logs)} merge logs with their Sales Invoices, "
		f"{len(invoices)} POS Invoices, {len(shifts)} shifts"
	)


def cancel_stock_entries(warehouses: list[str], echo):
	entries = set()
	for field in ("t_warehouse", "s_warehouse"):
		entries.update(
			frappe.get_all(
				"Stock Entry Detail",
				filters={"parenttype": "Stock Entry", field: ("in", warehouses or [""])},
				pluck="parent",
				distinct=True,
			)
		)
	for entry in sorted(
		entries, key=lambda n: frappe.db.get_value("Stock Entry", n, "creation"), reverse=True
	):
		doc = frappe.get_doc("Stock Entry", entry)
		if doc.docstatus == 1:
			doc.cancel()
	echo(f"cancelled {len(entries)} stock entries")


def delete_records(agreements: list[str], groups: list[str]):
	"""The ScoopJoy records of the demo's outlets and of the runs of its groups."""
	logs = frappe.get_all("Stock Sync Log", filters={"outlet_group": ("in", groups)}, pluck="name")
	for child in CHILD_TABLES:
		frappe.db.delete(child, {"parent": ("in", logs or [""]), "parenttype": "Stock Sync Log"})
	forget_runs(logs or [""])  # other outlets' standings may name a demo run
	frappe.db.delete("Stock Sync Log", {"name": ("in", logs or [""])})
	frappe.db.delete("Held POS Sale", {"outlet": ("in", agreements or [""])})
	frappe.db.delete("Outlet Sync Status", {"name": ("in", agreements or [""])})
	documents = [*agreements, *logs] or [""]
	for doctype in ("Error Log", "Comment"):
		frappe.db.delete(doctype, {"reference_name": ("in", documents)})
	frappe.db.delete("Notification Log", {"document_name": ("in", documents)})
	frappe.db.delete("Version", {"ref_doctype": "Franchise Agreement", "docname": ("in", documents)})
	frappe.db.delete("Franchise Agreement", {"name": ("in", agreements or [""])})
	for group in groups:
		frappe.delete_doc_if_exists("Outlet Group", group)
