// Copyright (c) 2026, ScoopJoy and contributors
// For license information, please see license.txt

const OUTLET_STATE_COLOURS = {
	"Failing Repeatedly": "red",
	Failing: "orange",
	"Sales Held": "purple",
	Backlog: "yellow",
	"Never Synced": "gray",
	Healthy: "green",
};

frappe.query_reports["Outlet Sync Health"] = {
	filters: [
		{
			fieldname: "outlet_group",
			label: __("Outlet Group"),
			fieldtype: "Link",
			options: "Outlet Group",
		},
		{
			fieldname: "territory",
			label: __("Territory"),
			fieldtype: "Link",
			options: "Territory",
		},
		{
			fieldname: "only_problems",
			label: __("Only Problems"),
			fieldtype: "Check",
		},
	],

	formatter(value, row, column, data, default_formatter) {
		const formatted = default_formatter(value, row, column, data);
		if (column.fieldname === "state" && data && data.state) {
			const colour = OUTLET_STATE_COLOURS[data.state] || "gray";
			return `<span class="indicator-pill ${colour}">${__(data.state)}</span>`;
		}
		return formatted;
	},
};
