# Copyright (c) 2026, ScoopJoy and contributors
# For license information, please see license.txt

"""Each outlet's standing, kept current by the sync: what the health report, the workspace cards and
the chronic-failure alert read, instead of searching a year of run history."""

import frappe
from frappe.model.document import Document
from frappe.utils import now_datetime
from pypika.terms import Values

CHRONIC_FAILURES = 3  # failed runs in a row after which an outlet gets its own alert
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
	"""Fold a chunk's results into its outlets' rows: one read and one upsert per chunk, inside the
	chunk's transaction, so the standing and the run's record commit together. The chunk holds its
	outlets' agreements locked, so no other run changes these rows meanwhile."""
	if not results:
		return
	before = {
		row.name: row
		for row in frappe.get_all(
			"Outlet Sync Status",
			filters={"name": ("in", [r["outlet"] for r in results])},
			fields=["name", *STATE_FIELDS],
		)
	}
	now = now_datetime()
	status = frappe.qb.DocType("Outlet Sync Status")
	upsert = (
		frappe.qb.into(status)
		.columns("name", "outlet", *STATE_FIELDS, "creation", "modified", "owner", "modified_by")
		.insert(
			*(
				(
					result["outlet"],
					result["outlet"],
					*next_state(before.get(result["outlet"]), result, run_name, now),
					now,
					now,
					"Administrator",
					"Administrator",
				)
				for result in results
			)
		)
	)
	for field in (*STATE_FIELDS, "modified"):
		upsert = upsert.on_duplicate_key_update(status[field], Values(status[field]))
	upsert.run()


def next_state(previous: dict | None, result: dict, run_name: str, now) -> tuple:
	previous = previous or frappe._dict(consecutive_failures=0)
	if result["result"] == "Failed":
		return (
			"Failed",
			run_name,
			now,
			previous.last_success_on,
			previous.last_success_run,
			previous.consecutive_failures + 1,
			result.get("message"),
			run_name,
			previous.chronic_alert_sent or 0,
		)
	return ("Synced", run_name, now, now, run_name, 0, previous.last_error, previous.last_error_run, 0)


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
