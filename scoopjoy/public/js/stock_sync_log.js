frappe.ui.form.on("Stock Sync Log", {
	refresh(frm) {
		const can_sync = frappe.user.has_role(["System Manager", "Stock Manager"]);
		if (!can_sync) return;

		const running = ["Queued", "Running"].includes(frm.doc.status) && !frm.doc.awaiting_report;
		if (running && !frm.doc.cancel_requested) {
			frm.add_custom_button(__("Cancel"), () =>
				frappe.confirm(__("Stop this stock sync after the outlet it is working on?"), () =>
					frappe
						.call("scoopjoy.stock_sync.cancel_stock_sync", { sync_log: frm.doc.name })
						.then(({ message }) => {
							frappe.show_alert({ message: message.message, indicator: "orange" });
							frm.reload_doc();
						})
				)
			);
		}
		if (!running && !frm.doc.awaiting_report && frm.doc.failed) {
			frm.add_custom_button(__("Retry Failed Outlets"), () =>
				frappe
					.call("scoopjoy.stock_sync.retry_failed_outlets", { sync_log: frm.doc.name })
					.then(({ message }) => {
						frappe.show_alert({ message: message.message, indicator: "blue" });
						frappe.set_route("Form", "Stock Sync Log", message.sync_log);
					})
			);
		}
	},
});
