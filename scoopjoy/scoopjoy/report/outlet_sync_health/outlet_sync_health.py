# Copyright (c) 2026, ScoopJoy and contributors
# For license information, please see license.txt

"""One row per active outlet, worst first: is its stock in step with its tills?

Three queries whatever the history: the active agreements joined to their Outlet Sync Status (the
standing the sync keeps per outlet), and their warehouses' pending POS Invoices (index
scoopjoy_pending_sync). No run history is read, so a year of it costs nothing here."""

import frappe
from frappe import _
from frappe.query_builder.functions import Count, Min
from frappe.utils import cint, now_datetime, time_diff_in_seconds

from scoopjoy import erpnext_pos
from scoopjoy.erpnext_pos import pos_sells_sales_invoices
from scoopjoy.pos_closing import open_shifts_posted_by_sync
from scoopjoy.scoopjoy.doctype.held_pos_sale.held_pos_sale import held_sales_of
from scoopjoy.scoopjoy.doctype.outlet_sync_status.outlet_sync_status import CHRONIC_FAILURES
from scoopjoy.scoopjoy.doctype.scoopjoy_settings.scoopjoy_settings import schedule

# Worst first; the chart shows them in this order, in these colours.
STATES = {
	"Failing Repeatedly": "#e24c4c",
	"Failing": "#f5a623",
	"Sales Held": "#d97706",
	"Backlog": "#ecad4b",
	"Never Synced": "#98a1a9",
	"Healthy": "#48bb74",
}
# Hours after which a pending invoice means the sync is behind: two missed runs of its cadence, or a
# day and two hours when it runs daily (or only by hand).
BACKLOG_HOURS = {"Every 5 minutes": 10 / 60, "Every 15 minutes": 0.5, "Hourly": 2, "Daily": 26, "Off": 26}


def execute(filters: dict | None = None):
	filters = frappe._dict(filters or {})
	rows = outlet_rows(filters)
	if filters.only_problems:
		rows = [row for row in rows if row.state != "Healthy"]
	return columns(), rows, pos_mode_message(), chart(rows), summary(rows)


# What each of ERPNext 16's POS modes leaves in the ledger per outlet over a 12-hour day of 20 sales an
# hour (one item each, one customer): (Sales Invoices, GL Entries, Stock Ledger Entries), as measured by
# `bench --site SITE execute scoopjoy.benchmarks.pos_modes.run` (README: "What each POS mode costs").
SALES_INVOICE_MODE_DAY = (240, 1440, 240)
POS_INVOICE_MODE_DAY = {
	"Every 5 minutes": (144, 864, 240),
	"Every 15 minutes": (48, 288, 240),
	"Hourly": (12, 72, 240),
	"Daily": (1, 6, 240),
}


def pos_mode_message() -> str | None:
	"""Which POS mode the site is in (ERPNext 16's POS Settings' Invoice Type) and what each costs."""
	if not erpnext_pos.offers().has_sales_invoice_mode:
		return None  # ERPNext 15: every POS sale is a POS Invoice
	costs = _("{0} Sales Invoices, {1} GL Entries, {2} Stock Ledger Entries")
	cadence = schedule() if schedule() in POS_INVOICE_MODE_DAY else "Hourly"
	lines = [
		_("The POS sells Sales Invoices, which post at once: the sync has nothing to consolidate.")
		if pos_sells_sales_invoices()
		else _("The POS sells POS Invoices, which the sync posts ({0}).").format(_(cadence)),
		_(
			"Per outlet over a 12-hour day of 20 sales an hour: Sales Invoice mode {0}; POS Invoice mode, synced {1}, {2}."
		).format(
			costs.format(*SALES_INVOICE_MODE_DAY),
			_(cadence).lower(),
			costs.format(*POS_INVOICE_MODE_DAY[cadence]),
		),
	]
	return "<br>".join(frappe.utils.escape_html(line) for line in lines)


def outlet_rows(filters) -> list[dict]:
	outlets = active_outlets(filters)
	pending = pending_invoices([o.warehouse for o in outlets if o.warehouse])
	held = held_sales_of([o.outlet for o in outlets])
	backlog_after = BACKLOG_HOURS.get(schedule(), 26) * 3600
	now = now_datetime()
	for outlet in outlets:
		count, oldest = pending.get(outlet.warehouse, (0, None))
		outlet.pending_invoices = count
		outlet.oldest_pending = oldest
		outlet.oldest_pending_age = time_diff_in_seconds(now, oldest) if oldest else None
		sales = held.get(outlet.outlet, [])
		outlet.held_sales = len(sales)
		if sales:  # the oldest held sale: open it from the report, and ERPNext's reason
			outlet.oldest_held_sale, outlet.held_reason = sales[0].name, sales[0].reason
			outlet.oldest_held_age = time_diff_in_seconds(now, sales[0].held_since)
		outlet.state = state_of(outlet, backlog_after)
	add_open_shifts(outlets)
	rank = {state: i for i, state in enumerate(STATES)}
	outlets.sort(
		key=lambda o: (
			rank[o.state],
			-cint(o.consecutive_failures),
			-(o.oldest_held_age or 0),
			-(o.oldest_pending_age or 0),
			-o.pending_invoices,
			o.outlet,
		)
	)
	return outlets


def active_outlets(filters) -> list[dict]:
	agreement = frappe.qb.DocType("Franchise Agreement")
	status = frappe.qb.DocType("Outlet Sync Status")
	query = (
		frappe.qb.from_(agreement)
		.left_join(status)
		.on(status.name == agreement.name)
		.select(
			agreement.name.as_("outlet"),
			agreement.franchise_name,
			agreement.outlet_group,
			agreement.territory,
			agreement.franchise_warehouse.as_("warehouse"),
			status.last_result,
			status.last_run,
			status.last_success_on,
			status.last_success_run,
			status.consecutive_failures,
			status.last_error,
			status.last_error_run,
		)
		.where((agreement.docstatus == 1) & (agreement.agreement_status == "Active"))
	)
	if filters.outlet_group:
		query = query.where(agreement.outlet_group == filters.outlet_group)
	if filters.territory:
		query = query.where(agreement.territory == filters.territory)
	return query.run(as_dict=True)


def add_open_shifts(outlets: list[dict]):
	"""Open POS shifts whose sales the sync already posted: their closings count those sales too."""
	shifts = open_shifts_posted_by_sync([o.warehouse for o in outlets if o.warehouse])
	for outlet in outlets:
		outlet.open_shifts_posted = ", ".join(shifts.get(outlet.warehouse, []))


def pending_invoices(warehouses: list[str]) -> dict[str, tuple]:
	"""warehouse: (submitted invoices the sync has not taken yet, when the oldest of them arrived)."""
	if not warehouses:
		return {}
	invoice = frappe.qb.DocType("POS Invoice")
	return {
		warehouse: (count, oldest)
		for warehouse, count, oldest in frappe.qb.from_(invoice)
		.select(invoice.set_warehouse, Count("*"), Min(invoice.creation))
		.where(
			invoice.set_warehouse.isin(warehouses)
			& (invoice.custom_stock_synced == 0)
			& (invoice.docstatus == 1)
		)
		.groupby(invoice.set_warehouse)
		.run()
	}


def state_of(outlet, backlog_after: float) -> str:
	if outlet.last_result == "Failed":
		return "Failing Repeatedly" if outlet.consecutive_failures >= CHRONIC_FAILURES else "Failing"
	if outlet.held_sales:
		return "Sales Held"
	if (outlet.oldest_pending_age or 0) > backlog_after:
		return "Backlog"
	if not outlet.last_result:
		return "Never Synced"
	return "Healthy"


def chart(rows: list[dict]) -> dict:
	counts = {state: 0 for state in STATES}
	for row in rows:
		counts[row.state] += 1
	shown = [state for state, count in counts.items() if count]
	return {
		"data": {
			"labels": [_(state) for state in shown],
			"datasets": [{"name": _("Outlets"), "values": [counts[state] for state in shown]}],
		},
		"type": "donut",
		"colors": [STATES[state] for state in shown],
		"height": 240,
	}


def summary(rows: list[dict]) -> list[dict]:
	failing = sum(1 for row in rows if row.state.startswith("Failing"))
	return [
		{"label": _("Outlets"), "value": len(rows), "datatype": "Int", "indicator": "Blue"},
		{
			"label": _("Failing"),
			"value": failing,
			"datatype": "Int",
			"indicator": "Red" if failing else "Green",
		},
		{
			"label": _("Sales Held"),
			"value": sum(row.held_sales for row in rows),
			"datatype": "Int",
			"indicator": "Orange",
		},
		{
			"label": _("Pending POS Invoices"),
			"value": sum(row.pending_invoices for row in rows),
			"datatype": "Int",
			"indicator": "Orange",
		},
	]


def columns() -> list[dict]:
	return [
		{
			"fieldname": "outlet",
			"label": _("Outlet"),
			"fieldtype": "Link",
			"options": "Franchise Agreement",
			"width": 150,
		},
		{"fieldname": "franchise_name", "label": _("Franchise Name"), "fieldtype": "Data", "width": 160},
		{"fieldname": "state", "label": _("State"), "fieldtype": "Data", "width": 140},
		{
			"fieldname": "outlet_group",
			"label": _("Outlet Group"),
			"fieldtype": "Link",
			"options": "Outlet Group",
			"width": 120,
		},
		{
			"fieldname": "territory",
			"label": _("Territory"),
			"fieldtype": "Link",
			"options": "Territory",
			"width": 110,
		},
		{
			"fieldname": "warehouse",
			"label": _("Warehouse"),
			"fieldtype": "Link",
			"options": "Warehouse",
			"width": 160,
		},
		{"fieldname": "pending_invoices", "label": _("Pending Invoices"), "fieldtype": "Int", "width": 110},
		{
			"fieldname": "oldest_pending_age",
			"label": _("Oldest Pending For"),
			"fieldtype": "Duration",
			"width": 130,
		},
		{"fieldname": "held_sales", "label": _("Sales Held"), "fieldtype": "Int", "width": 90},
		{
			"fieldname": "oldest_held_age",
			"label": _("Oldest Held For"),
			"fieldtype": "Duration",
			"width": 130,
		},
		{
			"fieldname": "oldest_held_sale",
			"label": _("Oldest Held Sale"),
			"fieldtype": "Link",
			"options": "POS Invoice",
			"width": 150,
		},
		{"fieldname": "held_reason", "label": _("Why It Is Held"), "fieldtype": "Data", "width": 260},
		{"fieldname": "last_result", "label": _("Last Result"), "fieldtype": "Data", "width": 90},
		{
			"fieldname": "last_run",
			"label": _("Last Run"),
			"fieldtype": "Link",
			"options": "Stock Sync Log",
			"width": 130,
		},
		{
			"fieldname": "last_success_on",
			"label": _("Last Successful Sync"),
			"fieldtype": "Datetime",
			"width": 160,
		},
		{
			"fieldname": "consecutive_failures",
			"label": _("Failed Runs in a Row"),
			"fieldtype": "Int",
			"width": 90,
		},
		{"fieldname": "last_error", "label": _("Last Error"), "fieldtype": "Data", "width": 280},
		{
			"fieldname": "last_error_run",
			"label": _("Error In Run"),
			"fieldtype": "Link",
			"options": "Stock Sync Log",
			"width": 130,
		},
		{
			"fieldname": "open_shifts_posted",
			"label": _("Open Shifts Posted by Sync"),
			"fieldtype": "Data",
			"width": 200,
		},
	]
