# Copyright (c) 2026, ScoopJoy and contributors
# For license information, please see license.txt

"""The record of one stock sync run, and the only place its state changes.

         enqueue               a worker takes the run lock
(new) ───────────> Queued ─────────────────────────────> Running ──┬─ all outlets walked ─> report job ─> Completed
                    │  ▲                                           │                                     Completed with Errors
                    │  └── next trigger or scheduler resumes ──┐   │                                     Failed
                    │                                          │   ├─ cancel requested ──> Cancelled
                    ├─ cancelled before a worker took it ─> Cancelled
                    └─ job lost ─────────────────────> Interrupted <─┴─ worker died, time budget, crash
An Interrupted run resumed more than MAX_RESUMES times is given up as Failed.

Who may write: a worker's copy of the run carries the generation (resume count) it took the run at,
and every write it makes is an UPDATE conditioned on that generation. Once the run was taken over
(resumed by the next trigger after its worker died or froze), a woken worker's write matches no row
and raises RunTakenOver inside its own transaction, which is rolled back with everything the worker
did in it. The taker also ends a frozen holder's database connection first (scoopjoy.named_lock).
"""

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.query_builder import Interval
from frappe.query_builder.functions import Now
from frappe.utils import now_datetime, time_diff_in_seconds

from scoopjoy import bulk, named_lock
from scoopjoy.alerts import alert_on_trouble
from scoopjoy.erpnext_pos import pos_sells_sales_invoices
from scoopjoy.liveness import discard_job, lock_state, rq_job_pending
from scoopjoy.scoopjoy.doctype.held_pos_sale.held_pos_sale import record_held_sales
from scoopjoy.scoopjoy.doctype.outlet_sync_status.outlet_sync_status import forget_runs, record_outcomes
from scoopjoy.scoopjoy.doctype.scoopjoy_settings.scoopjoy_settings import stock_posting_mode

ALL_OUTLETS = "All"
ACTIVE_STATUSES = ("Queued", "Running")
FINISHED_STATUSES = ("Completed", "Completed with Errors", "Failed", "Cancelled")  # never resumed
CLEAR_BATCH = 100  # runs deleted per transaction by the history clean-up (about 50,000 rows)
MAX_RESUMES = 5
ERROR_DETAILS_IN_MESSAGE = 20
# Added up over the outlets' rows; the rows carry the same names.
INVOICE_COUNTERS = (
	"invoices_synced",
	"invoices_consolidated",
	"invoices_flagged",
	"invoices_held",
	"stock_qty",
)
COUNTERS = ("processed", "succeeded", "failed", *INVOICE_COUNTERS)
ROW_FIELDS = ("outlet", "franchise_name", "result", *INVOICE_COUNTERS, "attempts", "message")
CONSOLIDATION_FIELDS = ("outlet", "merge_log", "sales_invoice", "credit_note", "invoices", "stock_qty")
HELD_SALE_FIELDS = ("pos_invoice", "outlet", "reason", "held_since")
CHILD_TABLES = ("Stock Sync Log Outlet", "Stock Sync Log Consolidation", "Stock Sync Log Held Sale")
WATCHED_FIELDS = (
	"name",
	"status",
	"total_outlets",
	"processed",
	"succeeded",
	"failed",
	*INVOICE_COUNTERS,
	"cancel_requested",
	"awaiting_report",
	"resume_count",
	"fan_out_jobs",
	"fan_out_done",
)


class RunTakenOver(Exception):
	"""This worker's run was taken over: nothing it did since its last commit may stand."""


class StockSyncLog(Document):
	generation: int | None = None  # on a worker's copy: the resume count it took the run at

	@staticmethod
	def clear_old_logs(days: int = 90):
		"""Log Settings' daily clean-up: finished runs last changed more than `days` ago go, with their
		rows, in bulk. Each outlet keeps its last success on its Outlet Sync Status. Interrupted runs
		stay whatever their age: the next trigger resumes them."""
		log = frappe.qb.DocType("Stock Sync Log")
		old_runs = (
			frappe.qb.from_(log)
			.select(log.name)
			.where(
				(log.modified < Now() - Interval(days=days))
				& log.status.isin(FINISHED_STATUSES)
				& (log.awaiting_report == 0)
			)
			.limit(CLEAR_BATCH)
		)
		while names := old_runs.run(pluck=True):
			for child in CHILD_TABLES:
				frappe.db.delete(child, {"parent": ("in", names), "parenttype": "Stock Sync Log"})
			forget_runs(names)
			frappe.db.delete("Stock Sync Log", {"name": ("in", names)})
			# A year of history is millions of rows: one bounded transaction per batch, and a clean-up
			# cut short keeps what it deleted (the next day's picks up the rest).
			frappe.db.commit()  # nosemgrep: frappe-manual-commit

	# ── creation and resumption ─────────────────────────────────────────────────────────────

	def queue(self, outlet_group: str | None, trigger: str, job_id: str, retry_of: str | None = None):
		"""Create the run when it is enqueued, so it is visible (and deduplicated) before a worker starts."""
		self.update(
			{
				"status": "Queued",
				"outlet_group": outlet_group or ALL_OUTLETS,
				"trigger": trigger,
				"triggered_by": frappe.session.user,
				"job_id": job_id,
				"retry_of": retry_of,
				"stock_posting": stock_posting_mode(),
				**dict.fromkeys(("total_outlets", *COUNTERS), 0),
			}
		)
		return self.insert(ignore_permissions=True)

	def resume(self, trigger: str):
		"""Interrupted → Queued: the next worker continues after the outlets already recorded."""
		self.db_set(
			{
				"status": "Queued",
				"trigger": trigger,
				"resume_count": self.resume_count + 1,
				"ended_on": None,
				"fan_out_jobs": 0,
				"fan_out_done": 0,
			}
		)
		self.notify_watchers()

	# ── the worker's side ───────────────────────────────────────────────────────────────────

	def acquire(self) -> bool:
		"""Take the run's lock for this worker; a killed worker's lock is freed at once."""
		return named_lock.acquire(self.lock_name)

	def release(self):
		named_lock.release(self.lock_name)

	def own(self, generation: int | None = None):
		"""This copy is now a worker's: its writes hold only while the run is in this generation."""
		self.generation = self.resume_count if generation is None else generation

	def write(self, values: dict):
		"""Set fields in the database and here. A worker's copy writes only while its generation owns
		the run, a condition the database checks; anyone else's writes as db_set."""
		if self.generation is None:
			self.db_set(values)
			return
		log = frappe.qb.DocType(self.doctype)
		update = frappe.qb.update(log).set(log.modified, now_datetime())
		for field, value in values.items():
			update = update.set(log[field], value)
		self.run_fenced(update)
		self.update(values)

	def still_owned(self):
		"""Raise unless this worker's generation still owns the run. A statement, so a worker whose
		connection was ended fails here too."""
		log = frappe.qb.DocType(self.doctype)
		# The query builder, not get_value: this runs once per chunk, and get_value's field parsing
		# costs more than the query.
		owner = frappe.qb.from_(log).select(log.resume_count).where(log.name == self.name).run()
		if not owner or owner[0][0] != self.generation:
			raise RunTakenOver(self.name)

	@property
	def lock_name(self) -> str:
		return f"scoopjoy_run::{self.name}"

	def begin(self, total_outlets: int):
		self.write(
			{
				"status": "Running",
				"total_outlets": total_outlets,
				"sync_datetime": self.sync_datetime or now_datetime(),
				# A run keeps its mode when resumed; one queued before the mode existed takes today's.
				"stock_posting": self.stock_posting or stock_posting_mode(),
			}
		)

	def processed_outlets(self) -> set[str]:
		return set(
			frappe.get_all(
				"Stock Sync Log Outlet",
				filters={"parent": self.name, "parenttype": self.doctype},
				pluck="outlet",
			)
		)

	def record_chunk(self, results: list[dict]):
		"""Add one row per outlet and add to the counters. Called inside the chunk's transaction, so
		what the record says was done and what was done are committed together. The counters are
		incremented in SQL, not overwritten, because parallel batches of one run record at once."""
		for result in results:
			result["invoices_synced"] = result.get("invoices_consolidated", 0) + result.get(
				"invoices_flagged", 0
			)
		first_idx = self.processed + 1
		self.add_to_counters(results)
		consolidations = [c | {"outlet": r["outlet"]} for r in results for c in r.get("consolidations", ())]
		self.insert_rows("outlets", "Stock Sync Log Outlet", ROW_FIELDS, results, start=first_idx)
		if consolidations:
			self.insert_rows(
				"consolidations",
				"Stock Sync Log Consolidation",
				CONSOLIDATION_FIELDS,
				consolidations,
				start=self.count_rows("Stock Sync Log Consolidation") + 1,
			)
		record_held_sales(self.name, results)  # the outlets' held lists; sets each sale's held_since
		if held := [sale for r in results for sale in r.get("held") or ()]:
			self.insert_rows(
				"held_sales",
				"Stock Sync Log Held Sale",
				HELD_SALE_FIELDS,
				held,
				start=self.count_rows("Stock Sync Log Held Sale") + 1,
			)
		record_outcomes(self.name, results)
		self.load_counters()
		self.notify_watchers()

	def add_to_counters(self, results: list[dict]):
		"""Add the chunk to the counters, first thing and only while this worker owns the run: the
		UPDATE locks the run's row, so a takeover waits for this chunk's commit, or this chunk finds
		the run taken over and raises inside its own transaction. `modified` is the run's last sign of
		life as committed."""
		failed = sum(1 for r in results if r["result"] == "Failed")
		log = frappe.qb.DocType(self.doctype)
		update = (
			frappe.qb.update(log)
			.set(log.modified, now_datetime())
			.set(log.processed, log.processed + len(results))
			.set(log.succeeded, log.succeeded + len(results) - failed)
			.set(log.failed, log.failed + failed)
		)
		for counter in INVOICE_COUNTERS:
			update = update.set(log[counter], log[counter] + sum(r.get(counter) or 0 for r in results))
		self.run_fenced(update)

	def run_fenced(self, update):
		"""Run a worker's UPDATE of this run on the condition that its generation still owns it."""
		log = frappe.qb.DocType(self.doctype)
		update.where((log.name == self.name) & (log.resume_count == self.generation)).run()
		if not frappe.db._cursor.rowcount:  # pymysql's affected rows: `modified` always changes
			raise RunTakenOver(self.name)

	def count_rows(self, doctype: str) -> int:
		return frappe.db.count(doctype, {"parent": self.name, "parenttype": self.doctype})

	def insert_rows(self, parentfield: str, doctype: str, fields: tuple, rows: list[dict], start: int):
		"""One INSERT for a chunk's child rows, straight to the table and not kept on this document: a
		run's memory must not grow with its outlets. `idx` only orders the outlets' rows."""
		if not rows:
			return
		now = now_datetime()
		bulk.insert(
			doctype,
			(
				*fields,
				"name",
				"parent",
				"parenttype",
				"parentfield",
				"idx",
				"creation",
				"modified",
				"owner",
				"modified_by",
			),
			[
				(
					*(
						row.get(f) or (0 if f in INVOICE_COUNTERS or f == "invoices" else None)
						for f in fields
					),
					frappe.generate_hash(length=10),
					self.name,
					self.doctype,
					parentfield,
					idx,
					now,
					now,
					self.owner,
					self.owner,
				)
				for idx, row in enumerate(rows, start=start)
			],
		)

	def load_counters(self):
		"""The run's totals as the database has them; after our UPDATE this includes every batch."""
		log = frappe.qb.DocType(self.doctype)
		self.update(
			frappe.qb.from_(log)
			.select(*(log[c] for c in COUNTERS))
			.where(log.name == self.name)
			.run(as_dict=True)[0]
		)

	# ── fan-out: one run, several batch jobs ────────────────────────────────────────────────

	def fan_out(self, batches: int):
		self.write({"fan_out_jobs": batches, "fan_out_done": 0})

	def batch_job_id(self, batch: int) -> str:
		# The resume count keeps a resumed run's batches apart from the dead ones RQ may still list.
		return f"{self.job_id}::{self.name}::{self.resume_count}::batch-{batch}"

	def batch_lock_name(self, batch: int) -> str:
		return f"{self.lock_name}::{batch}"

	def batch_done(self) -> bool:
		"""Count one finished batch. True for exactly one caller, the last: the UPDATE locks the row
		until the caller commits, so the batches count one after another."""
		log = frappe.qb.DocType(self.doctype)
		self.run_fenced(frappe.qb.update(log).set(log.fan_out_done, log.fan_out_done + 1))
		done, jobs = frappe.db.get_value(self.doctype, self.name, ["fan_out_done", "fan_out_jobs"])
		return done == jobs

	def cancellation_requested(self) -> bool:
		# Redis, not the field: the worker's open transaction would not see a committed change.
		return bool(frappe.cache.exists(self.cancel_key))

	@property
	def cancel_key(self) -> str:
		return f"scoopjoy_cancel::{self.name}"

	def end_processing(self, cancelled: bool = False):
		"""The worker is done; the report job finalises the record."""
		self.write(
			{
				"status": "Cancelled" if cancelled else self.status,
				"ended_on": now_datetime(),
				"awaiting_report": 1,
			}
		)
		self.notify_watchers()

	def interrupt(self, reason: str):
		"""The run stopped before its end; the next trigger resumes it, unless it keeps failing."""
		given_up = self.resume_count >= MAX_RESUMES
		self.write(
			{
				"status": "Failed" if given_up else "Interrupted",
				"ended_on": now_datetime(),
				"summary": _("Given up after {0} resumptions: {1}").format(self.resume_count, reason)
				if given_up
				else _("Interrupted after {0} of {1} outlets: {2}").format(
					self.processed, self.total_outlets, reason
				),
			}
		)
		self.notify_watchers()
		if given_up:
			alert_on_trouble(self)

	def notify_watchers(self):
		"""Counters and status to whoever has this run's form open (its document room), once committed."""
		frappe.publish_realtime(
			"scoopjoy_stock_sync_run",
			{field: self.get(field) for field in WATCHED_FIELDS},
			doctype=self.doctype,
			docname=self.name,
			after_commit=True,
		)

	# ── the user's side ─────────────────────────────────────────────────────────────────────

	def request_cancel(self):
		if self.status == "Queued":  # no worker has it yet: take it off the queue and close it here
			discard_job(self.job_id)
			self.db_set("cancel_requested", 1)
			self.end_processing(cancelled=True)
			self.finalise()
		elif self.status == "Running" and not self.awaiting_report:
			self.db_set("cancel_requested", 1)
			frappe.cache.set_value(self.cancel_key, 1, expires_in_sec=24 * 3600)
		else:
			frappe.throw(_("Only a queued or running stock sync can be cancelled."))

	def outlets_to_retry(self) -> list[str]:
		"""What Retry Failed Outlets takes up: the failed outlets and those whose sales were held."""
		held = frappe.get_all(
			"Stock Sync Log Held Sale",
			filters={"parent": self.name, "parenttype": self.doctype},
			pluck="outlet",
			distinct=True,
		)
		return list(dict.fromkeys([*self.failed_outlets(), *held]))

	def held_sale_rows(self, limit: int | None = None) -> list[dict]:
		return frappe.get_all(
			"Stock Sync Log Held Sale",
			filters={"parent": self.name, "parenttype": self.doctype},
			fields=["pos_invoice", "outlet", "reason", "held_since"],
			order_by="idx",
			limit=limit,
		)

	def failed_outlets(self) -> list[str]:
		return frappe.get_all(
			"Stock Sync Log Outlet",
			filters={"parent": self.name, "parenttype": self.doctype, "result": "Failed"},
			pluck="outlet",
			order_by="idx",
		)

	def load_doc_before_save(self, *, raise_exception: bool = False):
		"""What db_set compares against (on_change, Notifications on value change): the run's own fields
		as committed, locked. Frappe's version loads and locks every child row too, thousands here, and
		deadlocks with a worker appending the next chunk's rows (seen: a Cancel click while batches ran)."""
		self._doc_before_save = None
		if self.is_new():
			return
		values = frappe.db.get_value(self.doctype, self.name, "*", as_dict=True, for_update=True)
		if not values and raise_exception:
			raise frappe.DoesNotExistError(self.doctype, self.name)
		self._doc_before_save = frappe.get_doc({**values, "doctype": self.doctype}) if values else None

	def refresh_state(self):
		"""The run's own fields as committed, without loading its (possibly thousands of) rows."""
		self.update(frappe.db.get_value(self.doctype, self.name, "*", as_dict=True))

	# ── liveness and the end ────────────────────────────────────────────────────────────────

	def is_active(self) -> bool:
		return self.status in ACTIVE_STATUSES and not self.awaiting_report

	def is_alive(self) -> bool:
		return self.liveness() != "dead"

	def liveness(self) -> str:
		"""Does a live worker hold this run (or one of its batches), or is RQ about to give it to one?
		"alive", "unseen" (a lock held by a connection that is not visibly one of this site's own: alive
		as far as the app knows, and never ended by it), or "dead". A held lock counts only while its
		holder's connection shows signs of life: a killed worker's lock is gone at once, a frozen one's
		connection falls silent (stale_after). RQ answers for work not yet started, and for a job just
		started whose worker is still taking the lock. The probes themselves are scoopjoy.liveness."""
		if self.worker_is_running():
			return "alive"
		if "unseen" in {lock_state(name) for name in self.lock_names()}:
			return "unseen"
		for batch in range(self.fan_out_jobs or 0):
			if rq_job_pending(self.batch_job_id(batch)):
				return "alive"
		return "alive" if self.status == "Queued" and rq_job_pending(self.job_id) else "dead"

	def lock_names(self) -> list[str]:
		return [self.lock_name, *(self.batch_lock_name(b) for b in range(self.get("fan_out_jobs") or 0))]

	def worker_is_running(self) -> bool:
		"""A live worker of this site holds the run or a batch of it, under today's lock names or the
		release before's."""
		return "live" in {lock_state(name) for name in self.lock_names()} or self.held_under_legacy_name()

	def held_under_legacy_name(self) -> bool:
		"""Upgrades: a worker started before lock names were scoped per site holds the same names
		server-wide. It counts only when its connection is visibly this site's own (another site's run
		of the same name is not ours). Needed for the release after the change only."""
		return any(
			(holder := named_lock.legacy_holder(name)) and named_lock.holder_idle_for(holder) is not None
			for name in self.lock_names()
		)

	def fence(self) -> int:
		"""End the database connection of every worker still holding this run or a batch of it (they
		are frozen: liveness said so). MariaDB rolls back their open chunk; they can write nothing
		more. Returns how many there were. Raises named_lock.CannotEndHolder, having ended none, when
		a holder is not one of this site's own connections or MariaDB refuses to end it."""
		holders = [(name, holder) for name in self.lock_names() if (holder := named_lock.holder(name))]
		if any(named_lock.holder_idle_for(holder) is None for _name, holder in holders):
			raise named_lock.CannotEndHolder(_("a holder is not one of this site's connections"))
		for name, holder in holders:
			named_lock.take_from(name, holder)
		return len(holders)

	def note_lock_refused(self, lock: str):
		"""A worker found the run's (or its batch's) lock taken: say by whom instead of leaving without a
		word. On the run's timeline when it is another worker of this run (a duplicate job)."""
		holder = named_lock.holder(lock)
		if holder and named_lock.holder_idle_for(holder) is not None:
			message = _("A worker left {0} to the worker that holds it (database connection {1}).").format(
				lock, holder
			)
			self.add_comment("Info", message)
			frappe.db.commit()  # the worker returns right after  # nosemgrep: frappe-manual-commit
		else:
			message = _(
				"A worker left {0} alone: it is held by a database connection this site cannot see."
			).format(lock)
		frappe.logger("scoopjoy").warning(f"{self.name}: {message}")

	def finalise(self):
		self.db_set(
			{
				"status": self.status if self.status == "Cancelled" else self.outcome(),
				"duration": time_diff_in_seconds(self.ended_on, self.sync_datetime)
				if self.sync_datetime
				else 0,
				"summary": self.summary_line(),
				"awaiting_report": 0,
			}
		)
		self.notify_watchers()
		alert_on_trouble(self)

	def summary_line(self) -> str:
		outlets = _("{0} of {1} outlets synced, {2} failed").format(
			self.succeeded, self.total_outlets, self.failed
		)
		line = _("{0}: {1} invoices consolidated (stock qty {2} posted), {3} only marked as synced.").format(
			outlets, self.invoices_consolidated, frappe.format(self.stock_qty, "Float"), self.invoices_flagged
		)
		if self.invoices_held:
			line += " " + _("{0} sales held (see Held Sales).").format(self.invoices_held)
		if pos_sells_sales_invoices():
			line += " " + sales_invoice_mode_note()
		return line

	def outcome(self) -> str:
		if self.failed and not self.succeeded:
			return "Failed"
		return "Completed with Errors" if self.failed or self.invoices_held else "Completed"

	def completion_message(self) -> dict:
		"""What the triggering user's Desk receives when the worker stops."""
		return {
			"sync_log": self.name,
			"status": self.outcome() if self.status == "Running" else self.status,  # as the report will say
			"outlet_group": self.outlet_group,
			"total": self.total_outlets,
			"processed": self.processed,
			"success": self.succeeded,
			"errors": self.failed,
			"invoices_synced": self.invoices_synced,
			"invoices_consolidated": self.invoices_consolidated,
			"invoices_flagged": self.invoices_flagged,
			"invoices_held": self.invoices_held,
			"held_details": self.held_sale_rows(limit=ERROR_DETAILS_IN_MESSAGE),
			"stock_qty": self.stock_qty,
			"note": sales_invoice_mode_note() if pos_sells_sales_invoices() else None,
			"consolidated_documents": self.count_rows("Stock Sync Log Consolidation"),
			"error_details": frappe.get_all(
				"Stock Sync Log Outlet",
				filters={"parent": self.name, "parenttype": self.doctype, "result": "Failed"},
				fields=["outlet", "franchise_name", "message"],
				order_by="idx",
				limit=ERROR_DETAILS_IN_MESSAGE,
			),
		}


def sales_invoice_mode_note() -> str:
	return _(
		"POS Settings make each POS sale a Sales Invoice, which posts its stock and GL at once: there is "
		"nothing for the sync to consolidate, apart from POS Invoices made before that setting."
	)
