"""Stock sync for ScoopJoy's franchise outlets, top to bottom:

enqueue_stock_sync  ─long queue─>  process_stock_sync  ─per outlet─>  stock_posting.post_outlet_stock
  (or resume, retry, cancel)              │ finish: announce to the user, chain the report
enqueue_sync_report ─short queue─> generate_sync_report (finalises the run's Stock Sync Log)

Each run is a Stock Sync Log; its states and their transitions live on that controller. What syncing
one outlet posts lives in scoopjoy.stock_posting. This module walks outlets and decides when a run
starts, resumes or stops, including the syncs a stock transaction starts for outlets with held sales
(sync_on_stock_in, sync_after_correction: the doc events in hooks.py).
"""

import datetime
import time
from collections import Counter
from contextlib import contextmanager

import frappe
from frappe import _
from frappe.utils import cint, create_batch, get_datetime, get_time, now_datetime

from scoopjoy import named_lock
from scoopjoy.erpnext_pos import readable
from scoopjoy.liveness import discard_job, rq_job_in_flight
from scoopjoy.mark_only import mark_outlets_at_once
from scoopjoy.savepoint import Savepoint, forget_rolled_back_rows
from scoopjoy.scoopjoy.doctype.held_pos_sale.held_pos_sale import (
	forget_corrected_sale,
	outlets_holding_sales_for,
)
from scoopjoy.scoopjoy.doctype.scoopjoy_settings.scoopjoy_settings import (
	MARK_ONLY,
	schedule,
	setting,
	stale_after,
)
from scoopjoy.scoopjoy.doctype.stock_sync_log.stock_sync_log import ALL_OUTLETS, RunTakenOver
from scoopjoy.stock_posting import post_outlet_stock, posting_session

SYNC_ROLES = ("System Manager", "Stock Manager")
CHUNK_SIZE = 50  # outlets per transaction: a crash loses at most this much uncommitted work
JOB_TIMEOUT = 1800  # RQ kills the job after this; the time budget (ScoopJoy Settings) stops it before
MAX_ATTEMPTS = 3  # per outlet, for deadlocks and lock wait timeouts; bad data is never retried
COMPLETE_EVENT = "scoopjoy_stock_sync_complete"
ENQUEUE_LOCK = "scoopjoy_enqueue"


def sync_job_id(outlet_group: str | None) -> str:
	return f"scoopjoy_stock_sync::{outlet_group or 'all'}"


def report_job_id(outlet_group: str | None) -> str:
	return f"scoopjoy_sync_report::{outlet_group or 'all'}"


# ── 1. enqueue ──────────────────────────────────────────────────────────────────────────────


@frappe.whitelist()
def enqueue_stock_sync(outlet_group: str | None = None) -> dict:
	"""Queue a sync of all active outlets (or one outlet group); Desk, scheduler and CLI entry point.
	An interrupted run of the same group is resumed instead of starting over."""
	outlet_group = outlet_group or None  # Desk sends "" for "all outlets"
	check_sync_permission()
	validate_outlet_group(outlet_group)
	return start_run(outlet_group, current_trigger())


@frappe.whitelist()
def retry_failed_outlets(sync_log: str) -> dict:
	"""A new run over only the failed outlets of a finished run."""
	check_sync_permission()
	run = frappe.get_doc("Stock Sync Log", sync_log)
	if run.is_active() or run.awaiting_report:
		frappe.throw(_("Stock sync {0} has not finished yet.").format(run.name))
	if not run.outlets_to_retry():
		frappe.throw(_("Stock sync {0} has no failed outlets to retry.").format(run.name))
	return start_run(group_of(run), current_trigger(), retry_of=run.name)


@frappe.whitelist()
def cancel_stock_sync(sync_log: str) -> dict:
	"""Stop a run between two outlets; what it has done so far stays committed and recorded."""
	check_sync_permission()
	run = frappe.get_doc("Stock Sync Log", sync_log)
	run.request_cancel()
	frappe.db.commit()  # the worker must see the request now  # nosemgrep: frappe-manual-commit
	return {"sync_log": run.name, "message": _("Stock sync {0} is being cancelled.").format(run.name)}


def check_sync_permission():
	if frappe.session.user == "Guest" or not set(SYNC_ROLES).intersection(frappe.get_roles()):
		frappe.throw(
			_("You need one of the roles {0} to sync stock.").format(", ".join(_(r) for r in SYNC_ROLES)),
			frappe.PermissionError,
		)


def validate_outlet_group(outlet_group: str | None):
	if outlet_group and not frappe.db.exists("Outlet Group", outlet_group):
		frappe.throw(
			_("Outlet Group {0} does not exist.").format(frappe.bold(outlet_group)), frappe.DoesNotExistError
		)


def current_trigger() -> str:
	if getattr(frappe.local, "request", None):
		return "Desk"
	if getattr(frappe.local, "job", None):  # a scheduled job runs inside a worker
		return "Scheduler"
	return "CLI"


def run_scheduled_sync():
	"""The scheduler's five-minute tick: sync all outlets when ScoopJoy Settings' schedule says so."""
	if scheduled_sync_due(schedule(), now_datetime()):
		enqueue_stock_sync()


# Minutes per slot of each cadence; Daily is a slot a day from its time of day, Off has none.
CADENCE_MINUTES = {"Every 5 minutes": 5, "Every 15 minutes": 15, "Hourly": 60}


def scheduled_sync_due(mode: str, now) -> bool:
	"""Each slot of the schedule (every 5 or 15 minutes, every hour, or the day from its time) gets one
	sync of all outlets: due from the slot's start until a run of all outlets has started or ended in
	it. A tick that finds a run still running queues nothing (start_run answers "already running"),
	and a run that ends inside the next slot takes that slot too, so a run longer than its slot skips
	slots instead of piling up behind itself. A missed tick is made up by the next one."""
	start = slot_start(mode, now)
	if start is None or now < start:
		return False
	log = frappe.qb.DocType("Stock Sync Log")
	ran = (
		frappe.qb.from_(log)
		.select(log.name)
		.where((log.outlet_group == ALL_OUTLETS) & ((log.creation >= start) | (log.ended_on >= start)))
		.limit(1)
		.run()
	)
	return not ran


def slot_start(mode: str, now):
	if mode == "Daily":
		return get_datetime(
			f"{now.date()} {get_time(frappe.db.get_single_value('ScoopJoy Settings', 'daily_at'))}"
		)
	if minutes := CADENCE_MINUTES.get(mode):
		midnight = datetime.datetime.combine(now.date(), datetime.time())
		slot = datetime.timedelta(minutes=minutes)
		return midnight + (now - midnight) // slot * slot
	return None  # Off


def group_of(run) -> str | None:
	return None if run.outlet_group == ALL_OUTLETS else run.outlet_group


def start_run(outlet_group: str | None, trigger: str, retry_of: str | None = None) -> dict:
	"""Resume, create or refuse a run for the group, atomically across every caller."""
	job_id = sync_job_id(outlet_group)
	label = outlet_group or _("all outlets")
	with enqueue_lock():
		latest = latest_run(outlet_group)
		if latest and latest.is_active():
			liveness = latest.liveness()
			if liveness != "dead":
				return answer(latest, job_id, already_running_message(label, liveness))
			# Dead, or frozen: end a frozen holder's connection before anyone else writes to the run.
			try:
				frozen = latest.fence()
			except named_lock.CannotEndHolder as e:
				frappe.log_error(
					title=_("Stock sync {0}: its frozen worker could not be stopped").format(latest.name),
					reference_doctype="Stock Sync Log",
					reference_name=latest.name,
				)
				return answer(latest, job_id, cannot_end_message(latest, e))
			latest.interrupt(
				_("its worker stopped responding for {0} s").format(stale_after())
				if frozen
				else _("its worker stopped without finishing")
			)

		if latest and latest.status == "Interrupted" and not retry_of:
			run = latest
			run.resume(trigger)
			message = _("Stock sync for {0} resumes {1}.").format(label, run.name)
		else:
			run = frappe.new_doc("Stock Sync Log").queue(outlet_group, trigger, job_id, retry_of)
			message = _("Stock sync for {0} has been queued.").format(label)

		# No live run owns this job id now. A job RQ still lists under it (a killed worker's stays
		# "started" until RQ's cleanup) would make deduplicate=True drop this one without a word.
		discard_job(job_id)
		frappe.enqueue(
			"scoopjoy.stock_sync.process_stock_sync",
			queue="long",
			timeout=JOB_TIMEOUT,
			job_id=job_id,
			deduplicate=True,
			enqueue_after_commit=True,
			now=frappe.flags.in_test,
			outlet_group=outlet_group,
			trigger=trigger,
			sync_log=run.name,
		)
		# Commit inside the lock: the next caller must see this run, and the job is enqueued
		# (after commit) before that caller can look at RQ.
		frappe.db.commit()  # nosemgrep: frappe-manual-commit
	return answer(run, job_id, message)


def answer(run, job_id: str, message: str) -> dict:
	return {"job_id": job_id, "sync_log": run.name, "message": message}


def already_running_message(label: str, liveness: str) -> str:
	if liveness == "unseen":
		return _(
			"Stock sync for {0} is held by a database connection this site cannot see; it is treated as "
			"running and left alone."
		).format(label)
	return _("Stock sync for {0} is already running.").format(label)


def cannot_end_message(run, error: Exception) -> str:
	return _(
		"Stock sync {0} looks frozen, but its worker's database connection could not be ended ({1}). "
		"The run is left as it is: its worker may still finish it, or the database administrator can end "
		"that connection."
	).format(run.name, error)


@contextmanager
def enqueue_lock():
	"""One caller at a time decides whether a run starts (see scoopjoy.named_lock)."""
	with named_lock.held(ENQUEUE_LOCK, 30, _("Another stock sync is being started; please try again.")):
		# End the transaction (nothing is written before this point): a new snapshot sees what the
		# previous holder committed, which REPEATABLE READ would otherwise hide.
		frappe.db.commit()  # nosemgrep: frappe-manual-commit
		yield


def latest_run(outlet_group: str | None):
	name = frappe.db.get_value(
		"Stock Sync Log", {"outlet_group": outlet_group or ALL_OUTLETS}, "name", order_by="creation desc"
	)
	return frappe.get_doc("Stock Sync Log", name) if name else None


def resume_interrupted_runs():
	"""Scheduler, every five minutes: resume runs whose worker died or froze (without waiting for RQ's
	own cleanup), and report on runs whose report job was lost (Redis keeps nothing on disk here).
	Does nothing while every run is alive, and starts nothing while the schedule is Off."""
	report_lost_reports()
	if schedule() == "Off":
		return
	groups = frappe.get_all(
		"Stock Sync Log",
		filters={"status": ("in", ("Queued", "Running", "Interrupted")), "awaiting_report": 0},
		pluck="outlet_group",
		distinct=True,
	)
	for group in groups:
		run = latest_run(None if group == ALL_OUTLETS else group)
		if run.status == "Interrupted" or (run.is_active() and not run.is_alive()):
			start_run(group_of(run), "Scheduler")


def report_lost_reports():
	"""A run whose worker finished waits for its report job; if Redis lost that job (a restart after
	the worker ended), queue it again, or the run would stay Running until the group's next run."""
	for group in frappe.get_all(
		"Stock Sync Log", filters={"awaiting_report": 1}, pluck="outlet_group", distinct=True
	):
		outlet_group = None if group == ALL_OUTLETS else group
		if not rq_job_in_flight(report_job_id(outlet_group)):
			discard_job(report_job_id(outlet_group))  # a failed or finished one would block dedup
			enqueue_sync_report(outlet_group)


def sync_on_stock_in(doc, method=None):
	"""on_submit of a stock transaction (Stock Entry, Purchase Receipt, Stock Reconciliation, …): if it
	brought stock into a warehouse of an outlet with held sales, sync that outlet now instead of at
	the next scheduled run. The sync's own credit notes are skipped: it is posting that outlet."""
	if frappe.flags.scoopjoy_posting:
		return
	if outlets := outlets_holding_sales_for(doc):
		sync_after_stock_in(outlets)


def sync_after_correction(doc, method=None):
	"""POS Invoice on_cancel, and on_submit of a return: a corrected held sale leaves the held list,
	and a return brings its stock back, so its outlet is synced again."""
	outlet = forget_corrected_sale(doc)
	if outlet and doc.docstatus == 1:
		sync_after_stock_in([outlet])


def sync_after_stock_in(outlets: list[str]):
	"""Stock arrived for outlets with held sales: once it is committed, a job starts a sync of each
	outlet's group (deduplicated per group; Frappe prefixes job ids with the site)."""
	groups = frappe.get_all(
		"Franchise Agreement", filters={"name": ("in", outlets)}, pluck="outlet_group", distinct=True
	)
	for group in sorted(set(groups), key=str):
		frappe.enqueue(
			"scoopjoy.stock_sync.start_stock_in_run",
			queue="long",
			job_id=f"scoopjoy_stock_in::{group or 'all'}",
			deduplicate=True,
			enqueue_after_commit=True,
			outlet_group=group or None,
		)


def start_stock_in_run(outlet_group: str | None = None):
	start_run(outlet_group, "Stock In")


# ── 2. process ──────────────────────────────────────────────────────────────────────────────


def process_stock_sync(outlet_group: str | None = None, trigger: str = "CLI", sync_log: str | None = None):
	"""The worker: walk the run's remaining outlets in chunks, one transaction per chunk."""
	run = (
		frappe.get_doc("Stock Sync Log", sync_log)
		if sync_log
		else frappe.new_doc("Stock Sync Log").queue(outlet_group, trigger, sync_job_id(outlet_group))
	)
	if not run.acquire():
		run.note_lock_refused(run.lock_name)  # another worker has this run
		return
	try:
		run.refresh_state()  # read the run as it is now that we hold it
		run.own()
		if run.status == "Queued":
			with posting_session():
				walk_outlets(run)
	except RunTakenOver:
		frappe.db.rollback()  # this worker froze and its run was resumed by another: leave it be
	finally:
		run.release()


def walk_outlets(run):
	done = run.processed_outlets()
	outlets = [name for name in outlets_to_sync(run) if name not in done]
	run.begin(len(done) + len(outlets))
	set_lock_wait_timeout()
	frappe.db.commit()  # the run is visibly Running  # nosemgrep: frappe-manual-commit
	if len(outlets) > setting("fan_out_threshold"):
		fan_out(run, outlets)
		return

	try:
		outcome = walk_chunks(run, outlets)
	except RunTakenOver:
		raise
	except Exception as e:
		frappe.db.rollback()
		run.refresh_state()
		stop_interrupted(run, str(e) or type(e).__name__)
		raise
	if outcome == "out of time":
		stop_interrupted(run, _("the run reached its time budget; the next trigger resumes it"))
	else:
		finish_stock_sync(run)


def walk_chunks(run, outlets: list[str]) -> str:
	"""Sync the outlets chunk by chunk: "done", "cancelled", or "out of time" (stopped at a chunk
	boundary before RQ's job timeout would kill the job mid-chunk). A chunk that ends early (its
	time ran out) leaves the rest of its outlets to the next one."""
	started, budget = time.monotonic(), setting("time_budget")
	while outlets:
		if time.monotonic() - started > budget:
			return "out of time"
		synced, cancelled = sync_chunk(run, outlets[:CHUNK_SIZE])
		if cancelled:
			return "cancelled"
		outlets = outlets[synced:]
	return "done"


def fan_out(run, outlets: list[str]):
	"""Split the run into batch jobs on the long queue, for as many workers as there are. Each
	records into the same run; the last to finish (decided in the database) finishes the run."""
	batch_size = cint(setting("fan_out_batch"))
	batches = list(create_batch(outlets, batch_size))
	run.fan_out(len(batches))
	for batch, names in enumerate(batches):
		frappe.enqueue(
			"scoopjoy.stock_sync.process_outlet_batch",
			queue="long",
			timeout=JOB_TIMEOUT,
			job_id=run.batch_job_id(batch),
			deduplicate=True,
			enqueue_after_commit=True,
			sync_log=run.name,
			generation=run.resume_count,
			batch=batch,
			outlets=names,
		)
	frappe.db.commit()  # releases the batch jobs  # nosemgrep: frappe-manual-commit


def process_outlet_batch(sync_log: str, generation: int, batch: int, outlets: list[str]):
	"""A fan-out worker: one batch of a run. A batch that dies or runs out of time is not counted as
	finished, so the run is found dead when the others are done, and resumed."""
	run = frappe.get_doc("Stock Sync Log", sync_log)
	if not named_lock.acquire(run.batch_lock_name(batch)):
		run.note_lock_refused(run.batch_lock_name(batch))
		return
	try:
		run.refresh_state()
		if run.status != "Running" or run.resume_count != generation:
			return  # cancelled or interrupted before it started, or the run was resumed without it
		run.own(generation)
		done = run.processed_outlets()
		todo = [name for name in outlets_to_sync(run, names=outlets) if name not in done]
		set_lock_wait_timeout()
		with posting_session():
			frappe.db.commit()  # nothing written yet: the chunks start a READ COMMITTED transaction  # nosemgrep: frappe-manual-commit
			outcome = walk_chunks(run, todo)
		if outcome == "out of time":
			return
		if run.batch_done():
			finish_stock_sync(run)
		else:
			frappe.db.commit()  # this batch counted  # nosemgrep: frappe-manual-commit
	except RunTakenOver:
		frappe.db.rollback()  # the run was resumed without this batch (it froze): leave it be
	finally:
		named_lock.release(run.batch_lock_name(batch))


def outlets_to_sync(run, names: list[str] | None = None) -> list[str]:
	filters = {"docstatus": 1, "agreement_status": "Active"}
	if names is not None:
		filters["name"] = ("in", names)
	elif run.retry_of:
		filters["name"] = ("in", frappe.get_doc("Stock Sync Log", run.retry_of).outlets_to_retry())
	elif run.outlet_group != ALL_OUTLETS:
		filters["outlet_group"] = run.outlet_group
	# Names only: a run over thousands of outlets keeps one string per outlet in memory; each chunk
	# reads the rest of its outlets when it locks them.
	return frappe.get_all(
		"Franchise Agreement", filters=filters, pluck="name", order_by="territory asc, name asc"
	)


def set_lock_wait_timeout():
	# A cashier's open transaction should cost a retry, not InnoDB's 50 s default per attempt.
	seconds = cint(setting("lock_wait_timeout"))
	# No query-builder form for SET SESSION; the value is an int from the settings.
	frappe.db.sql("SET SESSION innodb_lock_wait_timeout = %s", seconds)  # nosemgrep: frappe-using-db-sql


def sync_chunk(run, chunk: list[str]) -> tuple[int, bool]:
	"""Sync a chunk, or its first outlets until its time is up, and record them in one transaction:
	(outlets synced, cancelled). A deadlock makes InnoDB drop the whole transaction, so the chunk is
	redone; an outlet that keeps deadlocking is recorded as failed."""
	deadlocks, commit_after = Counter(), commit_after_seconds(run)
	while True:
		try:
			outlets = lock_outlets(chunk)
			results, cancelled = marked_at_once(run, outlets, deadlocks), False
			if results is None:
				results, cancelled = sync_one_by_one(run, outlets, deadlocks, commit_after)
			run.record_chunk(results)
			frappe.db.commit()  # a crash keeps every finished chunk  # nosemgrep: frappe-manual-commit
			return len(results), cancelled
		except (OutletDeadlock, frappe.QueryDeadlockError) as e:
			frappe.db.rollback()
			forget_rolled_back_rows()
			run.refresh_state()
			culprit = getattr(e, "outlet", None)  # None: the chunk's own statements deadlocked
			deadlocks[culprit] += 1
			if culprit is None and deadlocks[None] >= MAX_ATTEMPTS:
				raise
			time.sleep(backoff(deadlocks[culprit]))


def commit_after_seconds(run) -> float:
	"""How long a chunk may take outlets one by one before it commits. Posting stock: after every
	outlet. ERPNext's naming-series rows (Sales Invoice, Stock Ledger Entry, GL Entry) stay locked from
	a Sales Invoice's insert to the commit, so a cashier's closing, or another worker of a fan-out,
	waits for that commit: one outlet per transaction keeps the wait to one outlet's posting (measured:
	two workers 1.28 times faster than one with 5-second chunks, 1.68 times with an outlet per commit)."""
	return setting("chunk_seconds") if run.stock_posting == MARK_ONLY else 0


def marked_at_once(run, outlets: list[dict], deadlocks: Counter) -> list[dict] | None:
	"""Mark-only: the chunk's rows if it could be marked at once (see stock_posting), else None. Not
	after a deadlock: the redone chunk goes outlet by outlet, to find the outlet that deadlocks."""
	if run.stock_posting != MARK_ONLY or deadlocks or run.cancellation_requested():
		return None
	marked = mark_outlets_at_once(outlets)
	if marked is None:
		return None
	publish_outlet_progress(run, outlets[-1], run.processed + len(outlets), run.processed)
	return [synced_row(outlet, flagged) for outlet, flagged in zip(outlets, marked, strict=True)]


def sync_one_by_one(run, outlets: list[dict], deadlocks: Counter, commit_after: float) -> tuple[list, bool]:
	"""Each outlet in its own savepoint, until the chunk's time is up: (rows, cancelled)."""
	results, started = [], time.monotonic()
	for outlet in outlets:
		if run.cancellation_requested():
			return results, True
		results.append(sync_outlet_with_retries(run, outlet, deadlocks[outlet.name]))
		position = run.processed + len(results)
		publish_outlet_progress(run, outlet, position, position - 1)
		if time.monotonic() - started > commit_after:
			break
	return results, False


def synced_row(outlet: dict, flagged: int) -> dict:
	return {
		"outlet": outlet.name,
		"franchise_name": outlet.franchise_name,
		"consolidations": [],
		"invoices_consolidated": 0,
		"invoices_flagged": flagged,
		"stock_qty": 0,
		"result": "Synced",
		"attempts": 1,
		"message": None,
	}


def lock_outlets(chunk: list[str]) -> list[dict]:
	"""Lock the chunk's agreements, so an overlapping run ("All" and "North") waits for this chunk
	instead of syncing the same outlets at the same time, and read them and their warehouses' state:
	two statements for the whole chunk instead of two per outlet. In the chunk's order."""
	agreement = frappe.qb.DocType("Franchise Agreement")
	locked = {
		row.name: row
		for row in frappe.qb.from_(agreement)
		.select(agreement.name, agreement.franchise_name, agreement.franchise_warehouse)
		.where(agreement.name.isin(chunk))
		.orderby(agreement.name)  # one lock order for every run: no deadlock between runs
		.for_update()
		.run(as_dict=True)
	}
	warehouses = [row.franchise_warehouse for row in locked.values() if row.franchise_warehouse]
	warehouse = frappe.qb.DocType("Warehouse")
	disabled = dict(
		frappe.qb.from_(warehouse)
		.select(warehouse.name, warehouse.disabled)
		.where(warehouse.name.isin(warehouses or [""]))
		.run()
	)
	outlets = []
	for name in chunk:
		row = locked.get(name) or frappe._dict(franchise_name=None, franchise_warehouse=None)
		outlets.append(
			frappe._dict(
				name=name,
				franchise_name=row.franchise_name,
				franchise_warehouse=row.franchise_warehouse,
				warehouse_disabled=disabled.get(row.franchise_warehouse),  # None: no such warehouse
			)
		)
	return outlets


class OutletDeadlock(Exception):
	def __init__(self, outlet: str):
		super().__init__(outlet)
		self.outlet = outlet


def sync_outlet_with_retries(run, outlet: dict, deadlocks_so_far: int = 0) -> dict:
	"""One outlet, all or nothing, each attempt in its own savepoint: a failure leaves nothing behind
	but its row and Error Log (see scoopjoy.savepoint). Lock wait timeouts are retried with backoff;
	bad data and ERPNext's validation errors fail at once."""
	row = {"outlet": outlet.name, "franchise_name": outlet.franchise_name, "consolidations": []}
	if deadlocks_so_far >= MAX_ATTEMPTS:
		message = _("Outlet {0} deadlocked {1} times.").format(outlet.name, deadlocks_so_far)
		return outlet_failed(row, deadlocks_so_far, message, traceback=message)
	attempt = deadlocks_so_far
	while True:
		attempt += 1
		savepoint = Savepoint()
		try:
			posted = post_outlet_stock(outlet, run.stock_posting)
		except Exception as e:
			if isinstance(e, frappe.QueryDeadlockError):
				raise OutletDeadlock(outlet.name) from e  # savepoint gone with the transaction
			savepoint.rollback()
			if isinstance(e, frappe.QueryTimeoutError) and attempt < MAX_ATTEMPTS:
				time.sleep(backoff(attempt))
				continue
			# A consolidation split before failing whole says how many attempts it made.
			attempts = attempt - 1 + getattr(e, "attempts", 1)
			return outlet_failed(row, attempts, readable(str(e)) or type(e).__name__)
		savepoint.drop_messages()
		# No RELEASE SAVEPOINT: the chunk's commit releases them all, one statement less per outlet.
		return with_held_sales({**row, **posted}, attempt - 1 + max(posted.pop("attempts", 1), 1))


def with_held_sales(row: dict, attempts: int) -> dict:
	"""A posted outlet's row. Some sales held: it says how many. All held, nothing posted: the
	outlet failed (its sales are on the held list and retried by the next run)."""
	held = row.get("held") or []
	if held and not row["invoices_consolidated"]:
		message = _("All {0} sales held: {1}").format(len(held), held[0]["reason"])
		return outlet_failed(row, attempts, message, traceback=message)
	message = _("{0} sales held: {1}").format(len(held), held[0]["reason"]) if held else None
	return {**row, "result": "Synced", "attempts": attempts, "message": message}


def outlet_failed(row: dict, attempts: int, message: str, traceback: str | None = None) -> dict:
	"""Record the failure in Error Log (with the current traceback unless one is given)."""
	frappe.log_error(
		title=_("Stock sync failed for outlet {0}").format(row["outlet"]),
		message=traceback,
		reference_doctype="Franchise Agreement",
		reference_name=row["outlet"],
	)
	return {**row, "result": "Failed", "attempts": attempts, "message": message}


def backoff(attempt: int) -> float:
	return 0.5 * 2 ** (attempt - 1)


def publish_outlet_progress(run, outlet: dict, position: int, previous: int):
	"""Frappe's "progress" event, addressed to the user who started the run (not whoever the worker's
	session is), and only when the whole percent moves from `previous` outlets done to `position`:
	at most 100 messages however many outlets."""
	percent = position * 100 / run.total_outlets
	if int(percent) == int(previous * 100 / run.total_outlets):
		return
	run.still_owned()  # a worker woken after a takeover must not report another worker's run
	frappe.publish_realtime(
		"progress",
		{
			"percent": percent,
			"title": _("Syncing Stock"),
			"description": _("Outlet {0} ({1}/{2})").format(
				outlet.franchise_name or outlet.name, position, run.total_outlets
			),
		},
		user=run.triggered_by,
	)


# ── 3. finish ───────────────────────────────────────────────────────────────────────────────


def finish_stock_sync(run):
	"""Announce the outcome to the user who started the run, then chain the report."""
	run.refresh_state()  # every batch's counts, when the run fanned out
	run.end_processing(cancelled=run.cancellation_requested())
	announce(run)
	frappe.logger("scoopjoy").info(
		f"Stock sync {run.name} ({run.outlet_group}): {run.succeeded}/{run.total_outlets} outlets synced, "
		f"{run.failed} failed, {run.invoices_consolidated} invoices consolidated, "
		f"{run.invoices_flagged} only marked, stock qty {run.stock_qty} posted"
	)
	if run.succeeded:
		enqueue_sync_report(group_of(run))
	else:
		run.finalise()  # nothing to report on: no outlet was synced
	frappe.db.commit()  # releases the after-commit announcement  # nosemgrep: frappe-manual-commit


def stop_interrupted(run, reason: str):
	run.interrupt(reason)
	announce(run)
	frappe.db.commit()  # the record must say Interrupted  # nosemgrep: frappe-manual-commit


def announce(run):
	frappe.publish_realtime(
		COMPLETE_EVENT, run.completion_message(), user=run.triggered_by, after_commit=True
	)


# ── 4. report ───────────────────────────────────────────────────────────────────────────────


def enqueue_sync_report(outlet_group: str | None = None):
	frappe.enqueue(
		"scoopjoy.stock_sync.generate_sync_report",
		queue="short",
		timeout=300,
		job_id=report_job_id(outlet_group),
		deduplicate=True,
		enqueue_after_commit=True,
		now=frappe.flags.in_test,
		outlet_group=outlet_group,
	)


def generate_sync_report(outlet_group: str | None = None):
	"""Finalise the group's runs whose workers have ended: status, summary, duration. Their
	figures are read from the Stock Sync Log the worker committed, never from process memory."""
	for name in frappe.get_all(
		"Stock Sync Log",
		filters={"outlet_group": outlet_group or ALL_OUTLETS, "awaiting_report": 1},
		pluck="name",
	):
		frappe.get_doc("Stock Sync Log", name).finalise()
	frappe.db.commit()  # the report job's own unit of work  # nosemgrep: frappe-manual-commit
