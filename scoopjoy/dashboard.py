"""What the ScoopJoy workspace shows at a glance: its number cards and its Stock Sync per Day chart
(their documents are in scoopjoy/scoopjoy/number_card and dashboard_chart). Each figure is a few
indexed queries: the workspace loads them all on every visit."""

import frappe
from frappe import _
from frappe.query_builder.functions import Count, Date, Sum
from frappe.utils import add_days, formatdate, getdate, nowdate

from scoopjoy.scoopjoy.doctype.stock_sync_log.stock_sync_log import FINISHED_STATUSES

CHART_DAYS = 30
HEALTH_REPORT = ["query-report", "Outlet Sync Health"]


def check_read_permission():
	frappe.has_permission("Stock Sync Log", throw=True)


@frappe.whitelist()
def pending_pos_invoices(filters=None) -> dict:
	"""Submitted POS Invoices of active outlets that no sync has taken yet."""
	check_read_permission()
	invoice = frappe.qb.DocType("POS Invoice")
	count = count_of_active_outlets(
		invoice,
		lambda agreement: agreement.franchise_warehouse == invoice.set_warehouse,
		(invoice.custom_stock_synced == 0) & (invoice.docstatus == 1),
	)
	return {"value": count, "fieldtype": "Int", "route": HEALTH_REPORT}


@frappe.whitelist()
def failing_outlets(filters=None) -> dict:
	"""Active outlets whose latest sync failed."""
	check_read_permission()
	status = frappe.qb.DocType("Outlet Sync Status")
	count = count_of_active_outlets(
		status, lambda agreement: agreement.name == status.name, status.last_result == "Failed"
	)
	return {
		"value": count,
		"fieldtype": "Int",
		"route": HEALTH_REPORT,
		"route_options": {"only_problems": 1},
	}


def count_of_active_outlets(table, joined_on, condition) -> int:
	"""Rows of `table` that belong to an active outlet (joined_on: agreement -> join condition)."""
	agreement = frappe.qb.DocType("Franchise Agreement")
	return (
		frappe.qb.from_(table)
		.join(agreement)
		.on(joined_on(agreement))
		.select(Count("*"))
		.where((agreement.docstatus == 1) & (agreement.agreement_status == "Active") & condition)
		.run()[0][0]
	)


@frappe.whitelist()
def last_run_status(filters=None) -> str:
	"""The latest run (any group): its status, as text (a number card shows text as it is)."""
	check_read_permission()
	run = latest_run()
	return _(run.status) if run else _("No sync yet")


@frappe.whitelist()
def last_run_duration(filters=None) -> dict:
	"""How long the latest finished run (any group) took; the card opens that run."""
	check_read_permission()
	run = latest_run(finished=True)
	if not run:
		return {"value": 0, "fieldtype": "Duration"}
	return {"value": run.duration, "fieldtype": "Duration", "route": ["Form", "Stock Sync Log", run.name]}


def latest_run(finished: bool = False):
	filters = {}
	if finished:
		filters["status"] = ("in", FINISHED_STATUSES)
	runs = frappe.get_all(
		"Stock Sync Log",
		filters=filters,
		fields=["name", "status", "duration"],
		order_by="creation desc",
		limit=1,
	)
	return runs[0] if runs else None


@frappe.whitelist()
def stock_sync_per_day(
	chart_name=None,
	chart=None,
	no_cache=None,
	filters=None,
	from_date=None,
	to_date=None,
	timespan=None,
	time_interval=None,
	heatmap_year=None,
) -> dict:
	"""The Stock Sync per Day chart: invoices synced and distinct outlets that failed, per day, for
	the last CHART_DAYS days (every group's runs; days without runs show zero)."""
	check_read_permission()
	days = [add_days(getdate(nowdate()), offset) for offset in range(1 - CHART_DAYS, 1)]
	synced, failed = invoices_synced_by_day(days[0]), failed_outlets_by_day(days[0])
	return {
		"labels": [formatdate(day, "d MMM") for day in days],
		"datasets": [
			{"name": _("Invoices Synced"), "values": [synced.get(day, 0) for day in days]},
			{"name": _("Failed Outlets"), "values": [failed.get(day, 0) for day in days]},
		],
	}


def invoices_synced_by_day(since) -> dict:
	log = frappe.qb.DocType("Stock Sync Log")
	day = Date(log.sync_datetime)
	return dict(
		frappe.qb.from_(log)
		.select(day, Sum(log.invoices_synced))
		.where(log.sync_datetime >= since)
		.groupby(day)
		.run()
	)


def failed_outlets_by_day(since) -> dict:
	log = frappe.qb.DocType("Stock Sync Log")
	row = frappe.qb.DocType("Stock Sync Log Outlet")
	day = Date(log.sync_datetime)
	return dict(
		frappe.qb.from_(row)
		.join(log)
		.on(log.name == row.parent)
		.select(day, Count(row.outlet).distinct())
		.where((log.sync_datetime >= since) & (row.result == "Failed") & (row.parenttype == "Stock Sync Log"))
		.groupby(day)
		.run()
	)
