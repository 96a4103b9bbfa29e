// Announces a stopped stock sync to the user who started it (the server addresses the event to them).
$(document).on("app_ready", () => {
	frappe.realtime.on("scoopjoy_stock_sync_complete", (data) => {
		const link = `<a href="/app/stock-sync-log/${encodeURIComponent(data.sync_log)}">${data.sync_log}</a>`;
		let message;
		if (data.status === "Interrupted" || data.status === "Cancelled") {
			message = __("Stock sync {0} {1} after {2} of {3} outlets.", [
				link,
				__(data.status).toLowerCase(),
				data.processed,
				data.total,
			]);
		} else if (data.errors) {
			message = __("Stock sync {0} finished: {1} of {2} outlets synced, {3} failed.", [
				link,
				data.success,
				data.total,
				data.errors,
			]);
		} else {
			message = __("Stock sync {0} finished: all {1} outlets synced.", [link, data.total]);
		}
		if (data.invoices_consolidated || data.invoices_flagged) {
			message += " " + __("{0} invoices consolidated (stock qty {1}), {2} only marked.", [
				data.invoices_consolidated,
				format_number(data.stock_qty),
				data.invoices_flagged,
			]);
		}
		if (data.invoices_held) {
			// The first few held sales by name, each opening the POS Invoice; then how many more.
			const named = (data.held_details || [])
				.slice(0, 3)
				.map(
					(h) =>
						`<a href="/app/pos-invoice/${encodeURIComponent(h.pos_invoice)}">${frappe.utils.escape_html(
							h.pos_invoice
						)}</a>`
				)
				.join(", ");
			const more = data.invoices_held - Math.min(3, (data.held_details || []).length);
			message +=
				" " +
				__("{0} sales held: {1}", [data.invoices_held, named]) +
				(more > 0 ? " " + __("and {0} more", [more]) : "") +
				".";
		}
		if (data.note) message += " " + frappe.utils.escape_html(data.note); // translated on the server
		frappe.show_alert({ message, indicator: data.status === "Completed" ? "green" : "orange" }, 10);
	});
});
