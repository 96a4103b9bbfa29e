"""Stock sync for ScoopJoy's franchise outlets, top to bottom:

enqueue_stock_sync  ─long queue─>  process_stock_sync  ─per outlet─>  sync_single_outlet
                                          │ finish: announce to the user, chain the report
enqueue_sync_report ─short queue─> generate_sync_report (finalises the run's Stock Sync Log)

The run's state lives on its Stock Sync Log (see its controller); this module only walks outlets.
"""

import frappe
from frappe import _
from frappe.utils import create_batch
from frappe.utils.background_jobs import is_job_enqueued

from scoopjoy.scoopjoy.doctype.stock_sync_log.stock_sync_log import ALL_OUTLETS

SYNC_ROLES = ("System Manager", "Stock Manager")
CHUNK_SIZE = 50  # outlets per transaction: a crash loses at most this much uncommitted work
INVOICE_PAGE_SIZE = 200  # invoices marked per UPDATE statement
DEADLOCK_ATTEMPTS = 3  # a deadlock rolls back the whole chunk's transaction; redo it this often
COMPLETE_EVENT = "scoopjoy_stock_sync_complete"


def sync_job_id(outlet_group: str | None) -> str:
	return f"scoopjoy_stock_sync::{outlet_group or 'all'}"


def report_job_id(outlet_group: str | None) -> str:
	return f"scoopjoy_sync_report::{outlet_group or 'all'}"


# ── 1. enqueue ──────────────────────────────────────────────────────────────────────────────


@frappe.whitelist()
def enqueue_stock_sync(outlet_group: str | None = None) -> dict:
	"""Queue a sync of all active outlets (or one outlet group); Desk, scheduler and CLI entry point."""
	outlet_group = outlet_group or None  # Desk sends "" for "all outlets"
	check_sync_permission()
	validate_outlet_group(outlet_group)

	job_id = sync_job_id(outlet_group)
	label = outlet_group or _("all outlets")
	if is_job_enqueued(job_id):
		return {"job_id": job_id, "message": _("Stock sync for {0} is already running.").format(label)}

	frappe.enqueue(
		"scoopjoy.stock_sync.process_stock_sync",
		queue="long",
		timeout=1800,
		job_id=job_id,
		deduplicate=True,
		enqueue_after_commit=True,
		now=frappe.flags.in_test,
		outlet_group=outlet_group,
		trigger=current_trigger(),
	)
	return {"job_id": job_id, "message": _("Stock sync for {0} has been queued.").format(label)}


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


# ── 2. process ──────────────────────────────────────────────────────────────────────────────


def process_stock_sync(outlet_group: str | None = None, trigger: str = "CLI"):
	"""The worker: walk the active outlets in chunks, one transaction per chunk."""
	outlets = get_active_outlets(outlet_group)
	log = frappe.new_doc("Stock Sync Log").start(
		outlet_group, trigger, sync_job_id(outlet_group), len(outlets)
	)
	frappe.db.commit()  # the run is visible before the first outlet  # nosemgrep: frappe-manual-commit

	try:
		done = 0
		for chunk in create_batch(outlets, CHUNK_SIZE):
			sync_chunk(log, chunk, done)
			done += len(chunk)
	except Exception as e:
		frappe.db.rollback()
		log.reload()
		log.fail(_("The run stopped after {0} outlets: {1}").format(done, e))
		frappe.db.commit()  # record the failure even though the job fails  # nosemgrep: frappe-manual-commit
		raise

	finish_stock_sync(log)


def get_active_outlets(outlet_group: str | None) -> list[dict]:
	filters = {"docstatus": 1, "agreement_status": "Active"}
	if outlet_group:
		filters["outlet_group"] = outlet_group
	return frappe.get_all(
		"Franchise Agreement",
		filters=filters,
		fields=["name", "franchise_name", "franchise_warehouse"],
		order_by="territory asc, name asc",
	)


def sync_chunk(log, chunk: list[dict], done_before: int):
	"""Sync a chunk and record it in one transaction; redo it if a deadlock rolled it all back."""
	for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
		try:
			results = []
			for position, outlet in enumerate(chunk, start=done_before + 1):
				results.append(sync_outlet_in_savepoint(outlet))
				publish_outlet_progress(log, outlet, position)
			log.record_chunk(results)
			frappe.db.commit()  # a crash keeps every finished chunk  # nosemgrep: frappe-manual-commit
			return
		except Exception as e:
			if attempt == DEADLOCK_ATTEMPTS or not frappe.db.is_deadlocked(e):
				raise
			frappe.db.rollback()
			log.reload()


def sync_outlet_in_savepoint(outlet: dict) -> dict:
	"""One outlet, all or nothing: a failure rolls back to the savepoint, so no partial writes."""
	result = {"outlet": outlet.name, "franchise_name": outlet.franchise_name, "invoices": 0, "error": None}
	savepoint = f"outlet_{frappe.generate_hash(length=10)}"
	frappe.db.savepoint(savepoint)
	try:
		result["invoices"] = sync_single_outlet(outlet)
	except Exception as e:
		if frappe.db.is_deadlocked(e):
			raise  # InnoDB dropped the whole transaction, savepoint included: the chunk is redone
		frappe.db.rollback(save_point=savepoint)
		result["error"] = str(e) or type(e).__name__
		frappe.log_error(
			title=_("Stock sync failed for outlet {0}").format(outlet.name),
			reference_doctype="Franchise Agreement",
			reference_name=outlet.name,
		)
	else:
		frappe.db.release_savepoint(savepoint)
	return result


def publish_outlet_progress(log, outlet: dict, position: int):
	# frappe.publish_progress's "progress" event, addressed to the user who started the run rather
	# than to whoever the worker's session happens to be.
	frappe.publish_realtime(
		"progress",
		{
			"percent": position * 100 / log.total_outlets,
			"title": _("Syncing Stock"),
			"description": _("Outlet {0} ({1}/{2})").format(
				outlet.franchise_name or outlet.name, position, log.total_outlets
			),
		},
		user=log.triggered_by,
	)


# ── 3. one outlet ───────────────────────────────────────────────────────────────────────────


def sync_single_outlet(outlet: dict) -> int:
	"""Mark every submitted, unsynced POS Invoice of the outlet's warehouse as synced.

	Raises on bad outlet data. Pages through the invoices by name, one UPDATE per page."""
	warehouse = outlet.franchise_warehouse
	if not warehouse:
		frappe.throw(_("Outlet {0} has no franchise warehouse configured.").format(outlet.name))
	disabled = frappe.db.get_value("Warehouse", warehouse, "disabled")
	if disabled is None:
		frappe.throw(_("Warehouse {0} of outlet {1} does not exist.").format(warehouse, outlet.name))
	if disabled:
		frappe.throw(_("Warehouse {0} of outlet {1} is disabled.").format(warehouse, outlet.name))

	pos_invoice = frappe.qb.DocType("POS Invoice")
	synced, last_name = 0, ""
	while names := frappe.get_all(
		"POS Invoice",
		filters={
			"set_warehouse": warehouse,
			"docstatus": 1,
			"custom_stock_synced": 0,
			"name": (">", last_name),
		},
		order_by="name asc",
		limit=INVOICE_PAGE_SIZE,
		pluck="name",
	):
		# A system flag, not an edit: `modified` stays as the cashier left it.
		frappe.qb.update(pos_invoice).set(pos_invoice.custom_stock_synced, 1).where(
			pos_invoice.name.isin(names)
		).run()
		synced += len(names)
		last_name = names[-1]
	return synced


# ── 4. finish ───────────────────────────────────────────────────────────────────────────────


def finish_stock_sync(log):
	"""Announce the outcome to the user who started the run, then chain the report."""
	log.end_processing()
	frappe.publish_realtime(
		COMPLETE_EVENT, log.completion_message(), user=log.triggered_by, after_commit=True
	)
	frappe.logger("scoopjoy").info(
		f"Stock sync {log.name} ({log.outlet_group}): {log.succeeded}/{log.total_outlets} outlets synced, "
		f"{log.failed} failed, {log.invoices_synced} invoices"
	)
	if log.succeeded:
		enqueue_sync_report(None if log.outlet_group == ALL_OUTLETS else log.outlet_group)
	else:
		log.finalise()  # nothing to report on: no outlet was synced
	frappe.db.commit()  # releases the after-commit announcement  # nosemgrep: frappe-manual-commit


# ── 5. report ───────────────────────────────────────────────────────────────────────────────


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
	"""Finalise the group's runs whose workers have ended. Their figures are read from the
	Stock Sync Log the worker committed, never from process memory."""
	for name in frappe.get_all(
		"Stock Sync Log",
		filters={"outlet_group": outlet_group or ALL_OUTLETS, "status": "Running", "ended_on": ("is", "set")},
		pluck="name",
	):
		frappe.get_doc("Stock Sync Log", name).finalise()
	frappe.db.commit()  # the report job's own unit of work  # nosemgrep: frappe-manual-commit
