frappe.provide("frappe.dashboards.chart_sources");

frappe.dashboards.chart_sources["Stock Sync Per Day"] = {
	method: "scoopjoy.dashboard.stock_sync_per_day",
	filters: [],
};
