frappe.listview_settings["Stock Sync Log"] = {
	add_fields: ["status", "awaiting_report", "processed", "total_outlets"],
	get_indicator(doc) {
		const colours = {
			Queued: "gray",
			Running: "blue",
			Completed: "green",
			"Completed with Errors": "orange",
			Failed: "red",
			Cancelled: "darkgrey",
			Interrupted: "yellow",
		};
		return [__(doc.status), colours[doc.status] || "gray", `status,=,${doc.status}`];
	},
	onload(listview) {
		// A running run's row moves as its worker commits chunks.
		frappe.realtime.on("scoopjoy_stock_sync_complete", () => listview.refresh());
	},
};
