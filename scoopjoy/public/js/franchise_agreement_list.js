frappe.listview_settings["Franchise Agreement"] = {
	get_indicator(doc) {
		const colours = { Active: "green", Suspended: "orange", Terminated: "red" };
		if (doc.docstatus === 1) {
			return [__(doc.agreement_status), colours[doc.agreement_status], `agreement_status,=,${doc.agreement_status}`];
		}
	},

	onload(listview) {
		if (!frappe.user.has_role(["System Manager", "Stock Manager"])) return;

		listview.page.add_inner_button(__("Sync Stock"), () => {
			frappe.prompt(
				{
					fieldname: "outlet_group",
					fieldtype: "Link",
					options: "Outlet Group",
					label: __("Outlet Group"),
					description: __("Leave empty to sync all active outlets."),
				},
				({ outlet_group }) =>
					frappe
						.call("scoopjoy.stock_sync.enqueue_stock_sync", { outlet_group: outlet_group || null })
						.then(({ message }) => {
							const link = `<a href="/app/stock-sync-log/${encodeURIComponent(message.sync_log)}">${message.sync_log}</a>`;
							frappe.show_alert({ message: `${message.message} ${link}`, indicator: "blue" }, 10);
						}),
				__("Sync Stock"),
				__("Start")
			);
		});
	},
};
