# Copyright (c) 2026, ScoopJoy and contributors
# For license information, please see license.txt

"""Each outlet's standing, kept current by the sync: what the health report, the workspace cards and
the chronic-failure alert read, instead of searching a year of run history."""

import frappe
from frappe.model.document import Document
from frappe.utils import now_datetime

from scoopjoy import bulk

CHRONIC_FAILURES = 3  # failed runs in a row after which an outlet gets its own alert
# An existing row's next state, from the chunk's new row (VALUES()): a failure adds to the streak and
# keeps the last success; a success ends the streak and re-arms the chronic alert.
FAILED = "VALUES(`last_result`) = 'Failed'"
NEXT_STATE = {
	"last_result": "VALUES(`last_result`)",
	"last_run": "VALUES(`last_run`)",
	"last_run_on": "VALUES(`last_run_on`)",
	"last_success_on": f"IF({FAILED}, `last_success_on`, VALUES(`last_run_on`))",
	"last_success_run": f"IF({FAILED}, `last_success_run`, VALUES(`last_run`))",
	"consecutive_failures": f"IF({FAILED}, `consecutive_failures` + 1, 0)",
	"last_error": f"IF({FAILED}, VALUES(`last_error`), `last_error`)",
	"last_error_run": f"IF({FAILED}, VALUES(`last_run`), `last_error_run`)",
	"chronic_alert_sent": f"IF({FAILED}, `chronic_alert_sent`, 0)",
	"modified": "VALUES(`modified`)",
}
STATE_FIELDS = (
	"last_result",
	"last_run",
	"last_run_on",
	"last_success_on",
	"last_success_run",
	"consecutive_failures",
	"last_error",
	"last_error_run",
	"chronic_alert_sent",
)


class OutletSyncStatus(Document):
	pass


def record_outcomes(run_name: str, results: list[dict]):
	"""Fold a chunk's results into its outlets' rows in one upsert, inside the chunk's transaction, so
	the standing and the run's record commit together. The chunk holds its outlets' agreements locked,
	so no other run changes these rows meanwhile."""
	now = now_datetime()
	rows = []
	for result in results:
		failed = result["result"] == "Failed"
		rows.append(
			(
				result["outlet"],
				result["outlet"],
				result["result"],
				run_name,
				now,
				None if failed else now,
				None if failed else run_name,
				1 if failed else 0,
				result.get("message") if failed else None,
				run_name if failed else None,
				0,
				now,
				now,
				"Administrator",
				"Administrator",
			)
		)
	bulk.insert(
		"Outlet Sync Status",
		("name", "outlet", *STATE_FIELDS, "creation", "modified", "owner", "modified_by"),
		rows,
		on_duplicate_key_update=NEXT_STATE,
	)


def newly_chronic_outlets() -> list[dict]:
	"""Outlets that have failed CHRONIC_FAILURES runs in a row and whose alert is not sent yet."""
	return frappe.get_all(
		"Outlet Sync Status",
		filters={"consecutive_failures": (">=", CHRONIC_FAILURES), "chronic_alert_sent": 0},
		fields=["outlet", "consecutive_failures", "last_error", "last_error_run"],
		order_by="outlet",
	)


def forget_runs(run_names: list[str]):
	"""The history clean-up deletes these runs: drop the links to them, keep the dates and errors."""
	status = frappe.qb.DocType("Outlet Sync Status")
	for field in ("last_run", "last_success_run", "last_error_run"):
		frappe.qb.update(status).set(status[field], None).where(status[field].isin(run_names)).run()
