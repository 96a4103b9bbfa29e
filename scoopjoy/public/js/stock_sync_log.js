frappe.ui.form.on("Stock Sync Log", {
	onload(frm) {
		// The worker publishes the run's counters to this document's room after every chunk.
		frappe.realtime.off("scoopjoy_stock_sync_run");
		frappe.realtime.on("scoopjoy_stock_sync_run", (data) => {
			if (data.name !== frm.doc.name || frm.is_dirty()) return;
			const status_changed = data.status !== frm.doc.status || data.awaiting_report !== frm.doc.awaiting_report;
			Object.assign(frm.doc, data);
			if (status_changed) {
				frm.reload_doc();
			} else {
				frm.refresh_fields();
				scoopjoy.stock_sync_log.show_summary(frm);
			}
		});
	},

	refresh(frm) {
		scoopjoy.stock_sync_log.show_summary(frm);
		scoopjoy.stock_sync_log.show_failures(frm);
		scoopjoy.stock_sync_log.add_actions(frm);
	},
});

frappe.provide("scoopjoy.stock_sync_log");

scoopjoy.stock_sync_log.show_summary = (frm) => {
	const doc = frm.doc;
	const colour = { Completed: "green", "Completed with Errors": "orange", Failed: "red" }[doc.status] || "blue";
	const parts = [
		__("{0} of {1} outlets processed", [doc.processed, doc.total_outlets]),
		__("{0} synced", [doc.succeeded]),
		__("{0} failed", [doc.failed]),
		__("{0} invoices consolidated", [doc.invoices_consolidated]),
		__("{0} only marked", [doc.invoices_flagged]),
		__("stock qty {0} posted", [format_number(doc.stock_qty)]),
	];
	if (doc.duration) parts.push(__("took {0}", [frappe.utils.get_formatted_duration(doc.duration)]));
	if (doc.trigger) parts.push(__("via {0} by {1}", [__(doc.trigger), doc.triggered_by || ""]));
	if (doc.resume_count) parts.push(__("resumed {0} times", [doc.resume_count]));
	frm.dashboard.set_headline_alert(`<b>${__(doc.status)}</b>: ${parts.join(" · ")}`, colour);
};

scoopjoy.stock_sync_log.show_failures = (frm) => {
	const failed = (frm.doc.outlets || []).filter((row) => row.result === "Failed");
	if (!failed.length) return;
	const rows = failed
		.map(
			(row) =>
				`<tr><td><a href="/app/franchise-agreement/${encodeURIComponent(row.outlet)}">${frappe.utils.escape_html(
					row.franchise_name || row.outlet
				)}</a></td><td>${frappe.utils.escape_html(row.message || "")}</td></tr>`
		)
		.join("");
	frm.dashboard.add_section(
		`<table class="table table-bordered table-sm scoopjoy-failed-outlets">
			<thead><tr><th>${__("Outlet")}</th><th>${__("Why it failed")}</th></tr></thead>
			<tbody>${rows}</tbody>
		</table>`,
		__("Failed Outlets ({0})", [failed.length])
	);
	frm.dashboard.show();
};

scoopjoy.stock_sync_log.add_actions = (frm) => {
	if (!frappe.user.has_role(["System Manager", "Stock Manager"])) return;
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
};
