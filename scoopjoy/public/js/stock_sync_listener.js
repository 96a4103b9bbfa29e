// Announces a finished stock sync to the user who started it (the server addresses the event to them).
$(document).on("app_ready", () => {
	frappe.realtime.on("scoopjoy_stock_sync_complete", (data) => {
		const message = data.errors
			? __("Stock sync finished: {0} of {1} outlets synced, {2} failed.", [data.success, data.total, data.errors])
			: __("Stock sync finished: all {0} outlets synced.", [data.total]);
		frappe.show_alert({ message, indicator: data.errors ? "orange" : "green" }, 10);
	});
});
