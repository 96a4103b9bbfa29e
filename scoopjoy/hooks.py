app_name = "scoopjoy"
app_title = "ScoopJoy"
app_publisher = "ScoopJoy"
app_description = "Stock sync for ScoopJoy's franchise ice-cream outlets"
app_email = "engineering@scoopjoy.example"
app_license = "mit"

# "frappe/erpnext", not "erpnext": a bare name makes install-app look the app up on api.github.com.
required_apps = ["frappe/erpnext"]

# Loaded on every Desk page: the listener that announces a finished stock sync.
app_include_js = "/assets/scoopjoy/js/stock_sync_listener.js"

doctype_list_js = {
	"Franchise Agreement": "public/js/franchise_agreement_list.js",
	"Stock Sync Log": "public/js/stock_sync_log_list.js",
}
doctype_js = {
	"Stock Sync Log": "public/js/stock_sync_log.js",
	"POS Closing Entry": "public/js/pos_closing_entry.js",
}

# The cashier's shift closing counts the sales the stock sync already posted (scoopjoy.pos_closing);
# both hand over to ERPNext's own code in "Mark invoices only" mode.
override_doctype_class = {"POS Closing Entry": "scoopjoy.pos_closing.ShiftClosing"}
# The closing form's listing: get_pos_invoices in ERPNext 15, get_invoices since 16.
override_whitelisted_methods = {
	"erpnext.accounts.doctype.pos_closing_entry.pos_closing_entry.get_pos_invoices": (
		"scoopjoy.pos_closing.get_pos_invoices"
	),
	"erpnext.accounts.doctype.pos_closing_entry.pos_closing_entry.get_invoices": (
		"scoopjoy.pos_closing.get_invoices"
	),
}

# The POS Invoice flag the sync sets, and the workspace's panel; applied on install and migrate.
fixtures = [
	{"dt": "Custom Field", "filters": [["module", "=", "ScoopJoy"]]},
	# The "latest run" panel of the ScoopJoy workspace.
	{"dt": "Custom HTML Block", "filters": [["name", "=", "ScoopJoy Latest Sync"]]},
]

# Every five minutes: the sync of all outlets when ScoopJoy Settings' schedule says a slot is due
# (Every 5 or 15 minutes, Hourly, Daily at a time; it only enqueues the real, deduplicated job on the
# long queue), and the check that resumes runs whose worker died, without waiting for RQ's cleanup.
scheduler_events = {
	"cron": {
		"*/5 * * * *": [
			"scoopjoy.stock_sync.run_scheduled_sync",
			"scoopjoy.stock_sync.resume_interrupted_runs",
		]
	},
}

# Makes sure Frappe's module map knows this app before install-app syncs its DocTypes.
before_install = "scoopjoy.install.before_install"
after_install = "scoopjoy.install.after_install"
# Refuses while a worker is running a sync (see scoopjoy.install.before_migrate).
before_migrate = "scoopjoy.install.before_migrate"
after_migrate = "scoopjoy.install.after_migrate"

# Stock Sync Log joins Frappe's daily log clean-up; its days follow ScoopJoy Settings' retention.
default_log_clearing_doctypes = {"Stock Sync Log": 90}
# Held sales (doctype Held POS Sale): a stock transaction bringing stock into a warehouse of an outlet
# with held sales syncs that outlet at once; a held sale the cashier cancels or returns leaves the list.
doc_events = {
	"Log Settings": {
		"on_update": "scoopjoy.scoopjoy.doctype.scoopjoy_settings.scoopjoy_settings.retention_from_log_settings"
	},
	"POS Invoice": {
		"on_submit": "scoopjoy.stock_sync.sync_after_correction",
		"on_cancel": "scoopjoy.stock_sync.sync_after_correction",
	},
	"Stock Entry": {"on_submit": "scoopjoy.stock_sync.sync_on_stock_in"},
	"Purchase Receipt": {"on_submit": "scoopjoy.stock_sync.sync_on_stock_in"},
	"Purchase Invoice": {"on_submit": "scoopjoy.stock_sync.sync_on_stock_in"},
	"Stock Reconciliation": {"on_submit": "scoopjoy.stock_sync.sync_on_stock_in"},
	"Delivery Note": {"on_submit": "scoopjoy.stock_sync.sync_on_stock_in"},
	"Sales Invoice": {"on_submit": "scoopjoy.stock_sync.sync_on_stock_in"},
}
