# Copyright (c) 2026, ScoopJoy and contributors
# For license information, please see license.txt

"""The record of one stock sync run, and the only place its state changes.

Running ──(worker ends)──> Running + ended_on ──(report job: finalise)──> Completed
                                                                          Completed with Errors
                                                                          Failed
A run that crashes outside any outlet is marked Failed by the worker itself.
"""

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.utils import now_datetime, time_diff_in_seconds

ALL_OUTLETS = "All"
ERROR_DETAILS_IN_MESSAGE = 20


class StockSyncLog(Document):
	def start(self, outlet_group: str | None, trigger: str, job_id: str, total_outlets: int):
		"""Create the record before the first outlet, so the run is visible while it works."""
		self.update(
			{
				"status": "Running",
				"outlet_group": outlet_group or ALL_OUTLETS,
				"trigger": trigger,
				"triggered_by": frappe.session.user,
				"job_id": job_id,
				"sync_datetime": now_datetime(),
				"total_outlets": total_outlets,
				"succeeded": 0,
				"failed": 0,
				"invoices_synced": 0,
			}
		)
		return self.insert(ignore_permissions=True)

	def record_chunk(self, results: list[dict]):
		"""Add one chunk's outcomes. Called inside the chunk's transaction, so what the record
		says was done and what was done are committed together."""
		failures = [r for r in results if r["error"]]
		for failure in failures:
			self.append(
				"outlet_errors",
				{
					"outlet": failure["outlet"],
					"franchise_name": failure["franchise_name"],
					"message": failure["error"],
				},
			).db_insert()
		self.db_set(
			{
				"succeeded": self.succeeded + len(results) - len(failures),
				"failed": self.failed + len(failures),
				"invoices_synced": self.invoices_synced + sum(r["invoices"] for r in results),
			},
			update_modified=False,
		)

	def end_processing(self):
		"""The worker has walked every outlet; the report job finalises the record."""
		self.db_set("ended_on", now_datetime())

	def fail(self, message: str):
		self.db_set({"status": "Failed", "ended_on": now_datetime(), "summary": message})

	def finalise(self):
		self.status = self.outcome()
		self.duration = time_diff_in_seconds(self.ended_on, self.sync_datetime)
		self.summary = _("{0} of {1} outlets synced, {2} failed, {3} invoices marked as synced.").format(
			self.succeeded, self.total_outlets, self.failed, self.invoices_synced
		)
		self.save(ignore_permissions=True)

	def outcome(self) -> str:
		if self.failed and not self.succeeded:
			return "Failed"
		return "Completed with Errors" if self.failed else "Completed"

	def completion_message(self) -> dict:
		"""What the triggering user's Desk receives when the worker is done."""
		return {
			"sync_log": self.name,
			"outlet_group": self.outlet_group,
			"total": self.total_outlets,
			"success": self.succeeded,
			"errors": self.failed,
			"invoices_synced": self.invoices_synced,
			"error_details": [
				{"outlet": row.outlet, "franchise_name": row.franchise_name, "message": row.message}
				for row in self.outlet_errors[:ERROR_DETAILS_IN_MESSAGE]
			],
		}
