"""The cashier's shift closing when the stock sync posts stock on its schedule.

ERPNext's POS Closing Entry sees only unconsolidated POS Invoices (`get_pos_invoices` filters on an
empty `consolidated_invoice`, `validate_pos_invoices` refuses consolidated ones), so once the sync has
posted a shift's sales the cashier's closing lists none of them and expects only the opening cash.
With stock posting on (ScoopJoy Settings: "Consolidate into stock ledger") this module makes the
closing count the whole shift again:

- listing (through `override_whitelisted_methods`, what the closing form calls, from Desk and from the
  POS page's "Close the POS": ERPNext 15's `get_pos_invoices`, 16's `get_invoices`): the shift's
  sales as ERPNext lists them, and the sales the sync consolidated, unless another submitted closing
  counted them;
- validating (`ShiftClosing.validate_pos_invoices`): the sync's sales pass, ERPNext's checks stay;
- submitting (`ShiftClosing.on_submit`, `retry`): the sales still unconsolidated are locked (the
  sync locks the same rows, so one of the two consolidates each sale), consolidated through ERPNext's
  own merge logs, each in a savepoint: a merge log ERPNext refuses leaves its sales to the sync and
  the closing says so instead of failing whole. The closing records every merge log that holds the
  shift's sales, the sync's and its own;
- cancelling: ERPNext's cancel, which cancels the merge logs the closing made itself. The sync's
  merge logs stay posted: that stock has left the warehouse, and a cancel must not silently reverse
  it (a return takes a sale back).

Merge logs the sync made are those with no POS Closing Entry (nothing else on the site consolidates
outside a closing). In "Mark invoices only" mode, and where ERPNext 16's POS sells Sales Invoices
(nothing to consolidate), every method hands over to ERPNext's own code.
"""

import json

import frappe
from frappe import _
from frappe.query_builder.custom import ConstantColumn
from frappe.query_builder.functions import IfNull, Timestamp
from frappe.utils import get_datetime, get_time, getdate

from scoopjoy import erpnext_pos
from scoopjoy.erpnext_pos import (
	NOT_THE_SALES_FAULT,
	POSClosingEntry,
	closing_sales,
	consolidated_into,
	documents_of,
	merge_log_groups,
	new_merge_log,
	pos_sells_sales_invoices,
	readable,
)
from scoopjoy.sale_isolation import names_what_they_sell
from scoopjoy.savepoint import Savepoint
from scoopjoy.scoopjoy.doctype.scoopjoy_settings.scoopjoy_settings import CONSOLIDATE, stock_posting_mode

POSTED_BY_SYNC = "Stock Sync"
POSTED_BY_CLOSING = "This Closing"
LEFT_TO_SYNC = "Left to the Stock Sync"


def posting_on() -> bool:
	"""Whether the sync posts the POS Invoices: not in "Mark invoices only", and not where the POS sells
	Sales Invoices (ERPNext 16's POS Settings "Sales Invoice" mode: each sale posts at once, and the
	closing is ERPNext's own)."""
	return stock_posting_mode() == CONSOLIDATE and not pos_sells_sales_invoices()


# ── listing the shift's sales ────────────────────────────────────────────────────────────────


@frappe.whitelist()
def get_pos_invoices(start, end, pos_profile, user):
	"""ERPNext 15's listing (hooks.override_whitelisted_methods): every sale of the shift, with its taxes
	and payments, for the closing form to total. With posting on, the sales the sync already
	consolidated are listed too, each with `scoopjoy_posted_by_sync` naming its merge log."""
	if not posting_on():
		return erpnext_pos.erpnext_listing(start, end, pos_profile, user)
	frappe.has_permission("POS Closing Entry", "write", throw=True)
	names, posted = shift_sales(start, end, pos_profile, user)
	sales = []
	for name in names:
		sale = frappe.get_doc("POS Invoice", name).as_dict()
		sale.scoopjoy_posted_by_sync = posted.get(name)
		sales.append(sale)
	return sales


@frappe.whitelist()
def get_invoices(start, end, pos_profile, user):
	"""ERPNext 16's listing (hooks.override_whitelisted_methods): {"invoices", "payments", "taxes"} of the
	shift, totalled on the server. With posting on, the POS Invoices the sync already consolidated are
	listed too (each with `scoopjoy_posted_by_sync`), and the payments and taxes are ERPNext's totals of
	the whole list."""
	if not posting_on():
		return erpnext_pos.erpnext_listing(start, end, pos_profile, user)
	frappe.has_permission("POS Closing Entry", "write", throw=True)
	listed = erpnext_pos.erpnext_listing(start, end, pos_profile, user)
	_names, posted = shift_sales(start, end, pos_profile, user)
	if not posted:
		return listed
	invoices = sorted(
		listed["invoices"] + listing_rows(list(posted), posted), key=lambda row: (row.timestamp, row.name)
	)
	return erpnext_pos.closing_totals(invoices)


def listing_rows(names: list[str], posted: dict[str, str]) -> list[dict]:
	"""The POS Invoices as ERPNext 16's build_invoice_query lists them, with the sync's merge log."""
	invoice = frappe.qb.DocType("POS Invoice")
	rows = (
		frappe.qb.from_(invoice)
		.select(
			invoice.name,
			invoice.customer,
			invoice.posting_date,
			invoice.grand_total,
			invoice.net_total,
			invoice.total_qty,
			invoice.total_taxes_and_charges,
			invoice.change_amount,
			invoice.account_for_change_amount,
			invoice.is_return,
			invoice.return_against,
			Timestamp(invoice.posting_date, invoice.posting_time).as_("timestamp"),
			ConstantColumn("POS Invoice").as_("doctype"),
		)
		.where(invoice.name.isin(names))
		.run(as_dict=True)
	)
	for row in rows:
		row.scoopjoy_posted_by_sync = posted[row.name]
	return rows


def shift_sales(start, end, pos_profile: str, user: str, closing: str | None = None) -> tuple[list, dict]:
	"""(the shift's sales in posting order, {sale: the sync's merge log} for those the sync posted): as
	ERPNext's listing (the cashier's submitted invoices of the profile within the period) but for the
	consolidated ones, which count when the sync consolidated them and no other submitted closing
	(not `closing`) lists them."""
	start, end = get_datetime(start), get_datetime(end)
	invoice = frappe.qb.DocType("POS Invoice")
	rows = (
		frappe.qb.from_(invoice)
		.select(invoice.name, invoice.posting_date, invoice.posting_time, invoice.consolidated_invoice)
		.where(
			(invoice.owner == user)
			& (invoice.docstatus == 1)
			& (invoice.pos_profile == pos_profile)
			& invoice.posting_date.between(start.date(), end.date())
		)
		.orderby(invoice.posting_date)
		.orderby(invoice.posting_time)
		.orderby(invoice.name)
		.run(as_dict=True)
	)
	rows = [r for r in rows if start <= get_datetime(f"{r.posting_date} {r.posting_time}") <= end]
	posted = merge_logs_of_the_sync([r.name for r in rows if r.consolidated_invoice])
	counted = counted_by_other_closings(list(posted), closing)
	posted = {name: log for name, log in posted.items() if name not in counted}
	return [r.name for r in rows if not r.consolidated_invoice or r.name in posted], posted


def merge_logs_of_the_sync(invoices: list[str]) -> dict[str, str]:
	"""{POS Invoice: the submitted merge log that consolidated it outside any POS closing}."""
	return submitted_parents_listing(
		invoices, "POS Invoice Merge Log", lambda log: IfNull(log.pos_closing_entry, "") == ""
	)


def counted_by_other_closings(invoices: list[str], closing: str | None) -> dict[str, str]:
	"""{POS Invoice: the other submitted POS Closing Entry that lists it}."""
	return submitted_parents_listing(
		invoices, "POS Closing Entry", lambda other: other.name != (closing or "")
	)


def submitted_parents_listing(invoices: list[str], parenttype: str, condition) -> dict[str, str]:
	"""{POS Invoice: the submitted `parenttype` document whose POS Invoice References list it and that
	meets `condition`}: merge logs and closings list their invoices in the same child table."""
	if not invoices:
		return {}
	ref = frappe.qb.DocType("POS Invoice Reference")
	parent = frappe.qb.DocType(parenttype)
	return dict(
		frappe.qb.from_(ref)
		.join(parent)
		.on(ref.parent == parent.name)
		.select(ref.pos_invoice, parent.name)
		.where(
			ref.pos_invoice.isin(invoices)
			& (ref.parenttype == parenttype)
			& (parent.docstatus == 1)
			& condition(parent)
		)
		.run()
	)


# ── the closing ──────────────────────────────────────────────────────────────────────────────


class ShiftClosing(POSClosingEntry):
	"""ERPNext's POS Closing Entry (hooks.override_doctype_class); with posting on, it counts and
	consolidates the shift's sales as the module docstring says. Otherwise ERPNext's own methods."""

	def validate(self):
		super().validate()
		if posting_on() and self.docstatus == 0:
			self.describe_stock_posting(draft_note(self))

	def validate_pos_invoices(self):
		"""ERPNext's checks; a sale the sync consolidated passes its "already consolidated" check, not
		the others (profile, cashier), and no sale may be counted by two submitted closings."""
		if not posting_on():
			return super().validate_pos_invoices()
		table = erpnext_pos.closing_sales_table(self)
		every_row = self.get(table)
		posted = merge_logs_of_the_sync([row.pos_invoice for row in every_row])
		counted = counted_by_other_closings(list(posted), self.name)
		errors = [
			_("Row #{0}: POS Invoice {1} is already counted by POS Closing Entry {2}").format(
				row.idx, frappe.bold(row.pos_invoice), frappe.bold(counted[row.pos_invoice])
			)
			for row in every_row
			if row.pos_invoice in counted
		]
		errors += erpnext_pos.closing_mismatches(
			self, [row for row in every_row if row.pos_invoice in posted]
		)
		if errors:
			frappe.throw(errors, title=_("Invalid POS Invoices"), as_list=True)
		setattr(self, table, [row for row in every_row if row.pos_invoice not in posted])
		try:
			super().validate_pos_invoices()  # the sales still to consolidate: ERPNext's checks, all
		finally:
			setattr(self, table, every_row)

	def on_submit(self):
		if not posting_on():
			return super().on_submit()
		erpnext_pos.submit_closing(self, consolidate_pos_invoices=consolidating_this_closing(self))

	@frappe.whitelist()
	def retry(self):
		if not posting_on():
			return super().retry()
		erpnext_pos.retry_closing(self, consolidate_pos_invoices=consolidating_this_closing(self))

	def on_cancel(self):
		super().on_cancel()  # ERPNext's: cancels the merge logs this closing made, reopens the shift
		if self.get("custom_stock_postings"):
			self.describe_stock_posting(
				(self.custom_stock_posting_note or "")
				+ "\n\n"
				+ _(
					"Cancelled: the merge logs this closing made were cancelled (their sales are "
					"unconsolidated again, and the stock sync posts them within the hour unless a new "
					"closing of the reopened shift does). What the stock sync posted stays posted."
				)
			)

	def describe_stock_posting(self, note: str):
		if self.docstatus == 0:
			self.custom_stock_posting_note = note
		else:
			self.db_set("custom_stock_posting_note", note, update_modified=False)


def consolidating_this_closing(closing):
	"""What ERPNext's on_submit and retry call as their module's consolidate_pos_invoices, for this call
	only (erpnext_pos.submit_closing): the app's consolidation of this closing."""

	def consolidate_pos_invoices(pos_invoices=None, closing_entry=None):
		consolidate_or_queue(closing)

	return consolidate_pos_invoices


def consolidate_or_queue(closing):
	"""ERPNext's dispatch (consolidate_pos_invoices): in ERPNext's background job from QUEUE_FROM sales
	to consolidate, else now. Only the sales still unconsolidated count."""
	names = [row.pos_invoice for row in closing_sales(closing)]
	to_consolidate = frappe.db.count(
		"POS Invoice", {"name": ("in", names or [""]), "consolidated_invoice": ("is", "not set")}
	)
	if to_consolidate < erpnext_pos.QUEUE_FROM:
		consolidate_shift(closing)
		return
	closing.set_status(update=True, status="Queued")  # as ERPNext does, before its job checks the scheduler
	erpnext_pos.enqueue_closing_job(consolidate_shift, closing)


def consolidate_shift(closing_entry):
	"""Consolidate what the sync has not, then close the shift: ERPNext's create_merge_logs (same
	merge logs, statuses, error message, commit and realtime event), but a merge log ERPNext refuses
	leaves its sales to the sync instead of failing the closing."""
	closing = (
		frappe.get_doc("POS Closing Entry", closing_entry)
		if isinstance(closing_entry, str)
		else closing_entry
	)
	try:
		sales = lock_sales(closing)
		postings, left = [], []
		for customer, group in merge_log_groups(sales.unconsolidated):  # as ERPNext groups them
			posting, refused = merge_or_leave(closing, customer, group)
			postings += posting
			left += refused
		postings += sales.postings
		if sales.by_sync or left:
			record_postings(closing, postings, left, len(closing_sales(closing)))
		closing.set_status(update=True, status="Submitted")
		closing.db_set("error_message", "")
		closing.update_opening_entry()
	except Exception as e:
		frappe.db.rollback()
		message = frappe.message_log.pop() if frappe.message_log else str(e)
		error_message = erpnext_pos.get_error_message(message)
		closing.set_status(update=True, status="Failed")
		closing.db_set(
			"error_message", json.dumps(error_message) if isinstance(error_message, list) else error_message
		)
		raise
	finally:
		frappe.db.commit()  # as ERPNext's closing does  # nosemgrep: frappe-manual-commit
		frappe.publish_realtime("closing_process_complete", user=frappe.session.user)


def lock_sales(closing) -> frappe._dict:
	"""The closing's sales, locked and read as last committed. The sync locks a warehouse's
	unconsolidated sales the same way (in name order, on its index), so whichever comes second waits
	and then sees what the first did: it never consolidates a sale the other has consolidated."""
	names = [row.pos_invoice for row in closing_sales(closing)]
	invoice = frappe.qb.DocType("POS Invoice")
	rows = (
		frappe.qb.from_(invoice)
		.select(
			invoice.name.as_("pos_invoice"),
			invoice.customer,
			invoice.posting_date,
			invoice.grand_total,
			invoice.is_return,
			invoice.return_against,
			invoice.consolidated_invoice,
		)
		.where(invoice.name.isin(names or [""]))
		.orderby(invoice.name)
		.for_update()
		.run(as_dict=True)
	)
	order = {name: i for i, name in enumerate(names)}
	rows.sort(key=lambda row: order[row.pos_invoice])
	consolidated = [row.pos_invoice for row in rows if row.consolidated_invoice]
	logs = merge_logs_of(consolidated, locking=True)
	by_sync = {name: log for name, log in logs.items() if not log.pos_closing_entry}
	already = {name: log for name, log in logs.items() if log.pos_closing_entry == closing.name}
	others = [name for name in consolidated if name not in by_sync and name not in already]
	if others:  # another closing consolidated them meanwhile: ERPNext's refusal
		frappe.throw(
			_("POS Invoice is already consolidated") + ": " + ", ".join(others),
			title=_("Invalid POS Invoices"),
		)
	linked = {row.pos_invoice: row.consolidated_invoice for row in rows}  # as last committed
	shift_sales_of = {}  # per merge log, {the shift's sales it holds: the document each is in}
	for name, log in {**by_sync, **already}.items():
		shift_sales_of.setdefault(log.name, (log, {}))[1][name] = linked[name]
	postings = [
		posting_of(row, POSTED_BY_CLOSING if log.pos_closing_entry == closing.name else POSTED_BY_SYNC)
		for log, sales in shift_sales_of.values()
		for row in documents_of(log.name, log.consolidated_invoice, sales)
	]
	reference_fields = (
		"pos_invoice",
		"customer",
		"posting_date",
		"grand_total",
		"is_return",
		"return_against",
	)
	return frappe._dict(
		unconsolidated=[
			frappe._dict({f: row[f] for f in reference_fields})
			for row in rows
			if not row.consolidated_invoice
		],
		by_sync=by_sync,
		postings=postings,
	)


def merge_logs_of(invoices: list[str], locking: bool = False) -> dict[str, frappe._dict]:
	"""{POS Invoice: its submitted merge log (name, pos_closing_entry, consolidated documents)}.
	`locking`: as last committed, like the locking read of the sales before it; a plain read would
	see the closing's snapshot, older than a sync that committed while the closing waited for it."""
	if not invoices:
		return {}
	ref = frappe.qb.DocType("POS Invoice Reference")
	log = frappe.qb.DocType("POS Invoice Merge Log")
	query = (
		frappe.qb.from_(ref)
		.join(log)
		.on(ref.parent == log.name)
		.select(
			ref.pos_invoice,
			log.name,
			log.pos_closing_entry,
			log.consolidated_invoice,
			log.consolidated_credit_note,
		)
		.where(
			ref.pos_invoice.isin(invoices)
			& (ref.parenttype == "POS Invoice Merge Log")
			& (log.docstatus == 1)
		)
	)
	return {row.pos_invoice: row for row in (query.for_update() if locking else query).run(as_dict=True)}


def posting_of(document: dict, posted_by: str) -> dict:
	"""A row of the closing's table from a row of stock_posting.documents_of (a merge log's Sales
	Invoice and first credit note, or a further credit note) and the shift's sales it holds."""
	return {
		"posted_by": posted_by,
		"merge_log": document["merge_log"],
		"sales_invoice": document["sales_invoice"],
		"credit_note": document["credit_note"],
		"sales": document["invoices"],
	}


def merge_or_leave(closing, customer: str, invoices: list[dict]) -> tuple[list[dict], list[dict]]:
	"""One merge log as ERPNext's create_merge_logs makes it, in a savepoint: ([its posting], []), or,
	when ERPNext refuses it for something its sales sell or who bought them (not enough stock, a
	disabled item, …), ([], the sales left to the sync). A refusal that names none of that (a POS
	Profile without a mandatory accounting dimension, a frozen stock period) is the setup's, not the
	sales': the closing fails with it, as ERPNext's own closing does."""
	savepoint = Savepoint()
	try:
		merge_log = new_merge_log(
			customer,
			invoices,
			getdate(closing.get("posting_date")),
			get_time(closing.get("posting_time")),
			closing=closing.name,
		)
		merge_log.save(ignore_permissions=True)
		merge_log.submit()
	except NOT_THE_SALES_FAULT:
		raise
	except frappe.ValidationError as e:
		reason = readable(str(e)) or type(e).__name__
		if not names_what_they_sell(reason, invoices):
			raise
		savepoint.rollback()
		return [], [
			{"posted_by": LEFT_TO_SYNC, "pos_invoice": row.pos_invoice, "reason": reason} for row in invoices
		]
	savepoint.drop_messages()
	documents = documents_of(merge_log.name, merge_log.consolidated_invoice, consolidated_into(invoices))
	return [posting_of(row, POSTED_BY_CLOSING) for row in documents], []


def record_postings(closing, postings: list[dict], left: list[dict], total: int):
	"""The closing's table of where its sales are posted, and its note (written after submit)."""
	frappe.db.delete("Shift Stock Posting", {"parent": closing.name, "parenttype": "POS Closing Entry"})
	closing.set("custom_stock_postings", [])
	for values in sorted(postings, key=lambda p: p["posted_by"] != POSTED_BY_SYNC) + left:
		row = closing.append("custom_stock_postings", {**values, "docstatus": closing.docstatus})
		row.db_insert()
	closing.describe_stock_posting(submitted_note(postings, left, total))


# ── what the closing says ───────────────────────────────────────────────────────────────────


def cancel_note() -> str:
	return _(
		"Cancelling this closing does what ERPNext's cancel does: it cancels the merge logs this closing "
		"made. What the stock sync posted stays posted: that stock has left the warehouse, and the next "
		"closing of the reopened shift counts those sales again. To take a sale back, make a return."
	)


def draft_note(closing) -> str | None:
	names = [row.pos_invoice for row in closing_sales(closing)]
	by_sync = len(merge_logs_of_the_sync(names))
	if not by_sync:
		return None
	return (
		_(
			"The ScoopJoy stock sync has already posted {0} of this shift's {1} sales to stock; they are "
			"counted here with their payments and taxes. Submitting consolidates the other {2}."
		).format(by_sync, len(names), len(names) - by_sync)
		+ "\n\n"
		+ cancel_note()
	)


def submitted_note(postings: list[dict], left: list[dict], total: int) -> str:
	by_sync = [p for p in postings if p["posted_by"] == POSTED_BY_SYNC]
	mine = [p for p in postings if p["posted_by"] == POSTED_BY_CLOSING]
	lines = [
		_(
			"{0} of this shift's {1} sales were posted by the ScoopJoy stock sync ({2} merge logs); this "
			"closing consolidated {3} ({4} merge logs)."
		).format(
			sum(p["sales"] for p in by_sync),
			total,
			len({p["merge_log"] for p in by_sync}),
			sum(p["sales"] for p in mine),
			len({p["merge_log"] for p in mine}),
		)
	]
	if left:
		lines.append(
			_(
				"{0} sales were left to the stock sync: ERPNext refused to consolidate them (see the table). "
				"They are counted in this shift's cash; the stock sync posts them once ERPNext accepts them."
			).format(len(left))
		)
	lines.append(cancel_note())
	return "\n\n".join(lines)


# ── per outlet: open shifts whose sales the sync posted (the health report) ────────────────


def open_shifts_posted_by_sync(warehouses: list[str]) -> dict[str, list[str]]:
	"""{warehouse: the open POS Opening Entries with sales in it that the sync has posted}. Two
	queries: the open shifts (a few per outlet), then the sync-posted sales of their POS Profiles
	since the earliest of them started (index on posting_date), matched to a shift in Python."""
	opening = frappe.qb.DocType("POS Opening Entry")
	shifts = (
		frappe.qb.from_(opening)
		.select(opening.name, opening.pos_profile, opening.user, opening.period_start_date)
		.where((opening.docstatus == 1) & (opening.status == "Open"))
		.run(as_dict=True)
	)
	if not shifts or not warehouses:
		return {}
	invoice = frappe.qb.DocType("POS Invoice")
	ref = frappe.qb.DocType("POS Invoice Reference")
	log = frappe.qb.DocType("POS Invoice Merge Log")
	sales = (
		frappe.qb.from_(invoice)
		.join(ref)
		.on((ref.pos_invoice == invoice.name) & (ref.parenttype == "POS Invoice Merge Log"))
		.join(log)
		.on((log.name == ref.parent) & (log.docstatus == 1) & (IfNull(log.pos_closing_entry, "") == ""))
		.select(
			invoice.set_warehouse,
			invoice.pos_profile,
			invoice.owner,
			Timestamp(invoice.posting_date, invoice.posting_time).as_("posted_at"),
		)
		.distinct()
		.where(
			(invoice.docstatus == 1)
			& invoice.pos_profile.isin(list({shift.pos_profile for shift in shifts}))
			& invoice.set_warehouse.isin(warehouses)
			& (invoice.posting_date >= min(shift.period_start_date for shift in shifts).date())
		)
		.run(as_dict=True)
	)
	posted = {}
	for shift in sorted(shifts, key=lambda s: s.name):
		for sale in sales:
			if (sale.pos_profile, sale.owner) == (shift.pos_profile, shift.user) and get_datetime(
				sale.posted_at
			) >= get_datetime(shift.period_start_date):
				if shift.name not in posted.setdefault(sale.set_warehouse, []):
					posted[sale.set_warehouse].append(shift.name)
	return posted
