"""Posting one outlet's stock: its POS Invoices consolidated into ERPNext's stock ledger.

Submitting a POS Invoice posts no stock and no GL; ERPNext posts them when invoices are consolidated
(POS Invoice Merge Log → consolidated Sales Invoice, or a credit note for returns → Stock Ledger
Entries, Bin, GL). This module does what ERPNext's `create_merge_logs` does for one outlet, through the
same documents and validations, but without its `try`/rollback/commit: the caller runs it inside the
outlet's savepoint, so a failure takes back exactly this outlet and the chunk commits the rest.

Exactly once: the outlet's unconsolidated invoices are read with a locking read (the latest committed
rows, held until the chunk commits), and ERPNext's merge log refuses an invoice that is already
Consolidated. A cashier's POS Closing Entry locks the same rows (scoopjoy.pos_closing): whichever
comes second waits, then sees what the first consolidated and counts it instead of posting it again.

One code path for every ERPNext 15 and 16: what differs between versions (a merge log's company, its
split by accounting dimensions, one credit note per original sale, consolidated invoices dated by
their sales) is read from what the running ERPNext offers, and where the sync replaces an ERPNext
method for speed it keeps that method's contract or hands the call back to it.
"""

import html
import math
import re
from collections import Counter, defaultdict
from contextlib import contextmanager
from functools import partial

import frappe
from erpnext.accounts.doctype.pos_invoice_merge_log import pos_invoice_merge_log as erpnext_merge_log
from erpnext.accounts.doctype.pos_invoice_merge_log.pos_invoice_merge_log import (
	POSInvoiceMergeLog,
	split_invoices,
)
from erpnext.accounts.utils import FiscalYearError
from erpnext.exceptions import InvalidAccountDimensionError, MandatoryAccountDimensionError
from erpnext.stock.doctype.stock_ledger_entry.stock_ledger_entry import StockFreezeError
from erpnext.stock.utils import PendingRepostingError
from frappe import _
from frappe.query_builder.functions import Count
from frappe.realtime import get_doctype_room
from frappe.utils import (
	create_batch,
	flt,
	get_time,
	getdate,
	now_datetime,
	nowdate,
	nowtime,
	strip_html_tags,
)

from scoopjoy.savepoint import Savepoint
from scoopjoy.scoopjoy.doctype.scoopjoy_settings.scoopjoy_settings import MARK_ONLY

PAGE_SIZE = 500  # invoices marked per UPDATE statement


def post_outlet_stock(outlet: dict, mode: str) -> dict:
	"""Post one outlet (a row of stock_sync.lock_outlets) and return what was done:
	invoices_consolidated, invoices_flagged, stock_qty and one entry per merge log.
	Sales ERPNext refuses are held (see Isolation) and the rest is posted. Raises, leaving the rollback
	to the caller's savepoint, on bad outlet data or an error that does not depend on the sale."""
	warehouse = validated_warehouse(outlet)
	if mode == MARK_ONLY:
		return outcome(flagged=mark_pending(warehouse))

	to_consolidate = lock_unconsolidated(warehouse)
	flagged = mark_pending(warehouse, consolidated_only=True)  # a cashier's closing posted these
	isolation = Isolation(to_consolidate)
	isolation.run()
	mark_synced(isolation.posted)
	held = [{**sale, "warehouse": warehouse} for sale in isolation.held]
	return outcome(flagged=flagged, consolidations=isolation.consolidations, held=held) | {
		"attempts": isolation.attempts
	}


def pos_sells_sales_invoices() -> bool:
	"""ERPNext 16's POS Settings "Sales Invoice" mode (the default of a new site): the POS makes each sale a
	Sales Invoice that posts its stock and GL at once, so there is nothing for the sync to consolidate
	but POS Invoices from before the switch. Not in ERPNext 15, where every POS sale is a POS Invoice."""
	return (
		frappe.get_meta("POS Settings").has_field("invoice_type")
		and frappe.db.get_single_value("POS Settings", "invoice_type") == "Sales Invoice"
	)


def outcome(
	flagged: int = 0, consolidations: list[dict] | None = None, held: list[dict] | None = None
) -> dict:
	consolidations = consolidations or []
	return {
		"invoices_consolidated": sum(c["invoices"] for c in consolidations),
		"invoices_flagged": flagged,
		"invoices_held": len(held or ()),
		"stock_qty": sum(c["stock_qty"] for c in consolidations),
		"consolidations": consolidations,
		"held": held,  # None: the outlet's sales were not tried (mark-only)
	}


def consolidate_all(invoices: list[dict], held_before: set[str] = frozenset()) -> list[dict]:
	"""What a POS closing does with these invoices: the merge logs ERPNext's create_merge_logs makes
	(see merge_log_groups). The rows returned are the documents made (see documents_of)."""
	return [
		row
		for customer, group in merge_log_groups(invoices, held_before)
		for row in consolidate(customer, group, dated_now=bool(held_before & names_of(group)))
	]


def merge_log_groups(invoices: list[dict], held_before: set[str] = frozenset()) -> list[tuple[str, list]]:
	"""[(customer, invoices of one merge log)], as the running ERPNext's create_merge_logs groups them:
	per customer; then, where ERPNext splits them so (15.99 and later), per set of accounting
	dimensions; then ERPNext's split_invoices (serial-number returns). Sales held before are kept
	apart: their merge logs are dated when they post (see consolidate)."""
	return [
		(customer, group)
		for customer, of_customer in by_customer(invoices).items()
		for was_held in (False, True)
		for same_dimensions in by_accounting_dimensions(
			[row for row in of_customer if (row.pos_invoice in held_before) == was_held]
		)
		for group in split_invoices(same_dimensions)
	]


def by_accounting_dimensions(invoices: list[dict]) -> list[list[dict]]:
	"""ERPNext's own split where it has one (split_invoices_by_accounting_dimension, 15.99 and later:
	invoices with other cost centers, projects or dimensions get other merge logs); one group before."""
	if not invoices:
		return []
	split = getattr(erpnext_merge_log, "split_invoices_by_accounting_dimension", None)
	return list(split(invoices).values()) if split else [invoices]


def names_of(invoices: list[dict]) -> set[str]:
	return {row.pos_invoice for row in invoices}


# ── isolating the bad sales ─────────────────────────────────────────────────────────────────
# ERPNext validates a whole merge log at once, so one sale it refuses (not enough stock, a disabled
# item, a batch no longer there) fails every sale of its outlet. The outlet's sales are split in
# posting order and the halves retried, each attempt in its own savepoint: k bad sales among n cost
# about 2·k·log2(n) attempts, and everything else is posted in the same run. A failure that does not
# depend on the sale (an accounting dimension, a frozen stock period, a closed fiscal year, a
# deadlock or lock wait) is not split: it fails the outlet whole, as before.
NOT_THE_SALES_FAULT = (
	MandatoryAccountDimensionError,
	InvalidAccountDimensionError,
	FiscalYearError,
	StockFreezeError,
	PendingRepostingError,
)
SAME_REASON_SLACK = 4  # failures in a row, beyond one path down the split, before giving up


class SaleIndependentFailure(frappe.ValidationError):
	"""Every attempt failed for the same reason: the outlet fails whole, as before isolation."""

	def __init__(self, message: str, attempts: int):
		super().__init__(message)
		self.attempts = attempts


class Isolation:
	"""Consolidate an outlet's pending sales, holding the ones ERPNext refuses.

	Units, not invoices, are split: a return stays with its original while the original is
	unconsolidated (ERPNext wants them together), and each attempt groups its units by customer, so
	a customer's sales stay in that customer's merge logs. Bounds: at most `bound` attempts
	(1 + 6·⌈log2 n⌉ for n units: three bad sales anywhere are isolated); and when nothing has posted
	and the last ⌈log2 n⌉ + 4 attempts all failed with the same reason, the failure is taken as not
	depending on the sale and the outlet fails whole (an all-failing outlet of 20 costs 9 attempts)."""

	def __init__(self, invoices: list[dict]):
		self.units = sales_with_their_returns(invoices)
		self.invoices, self.sold = invoices, None  # read on the first split: a clean outlet needs none
		self.held_before = held_before(invoices)
		depth = math.ceil(math.log2(len(self.units))) if len(self.units) > 1 else 0
		self.bound = 1 + 6 * depth
		self.give_up_after = depth + SAME_REASON_SLACK
		self.attempts, self.failures_in_a_row, self.last_reason = 0, 0, None
		self.consolidations, self.posted, self.held = [], [], []

	def run(self):
		if self.units:
			self.isolate(self.units, known_bad=None)

	def isolate(self, units: list[list[dict]], known_bad: str | None):
		"""Post `units` or hold their bad sales. `known_bad`: the reason they failed with, when that
		is known already (tried, or their sibling half posted, so the parent's failure is theirs)."""
		if known_bad is None:
			if self.out_of_attempts(units):
				return
			known_bad = self.attempt(units)
			if known_bad is None:
				return
		if len(units) == 1:
			self.hold(units, known_bad)
			return
		if self.out_of_attempts(units, known_bad):
			return
		first, second = self.split(units, known_bad)
		first_failed = self.attempt(first)
		if first_failed:
			self.isolate(first, known_bad=first_failed)
			self.isolate(second, known_bad=None)
		else:
			self.isolate(second, known_bad=known_bad)

	def out_of_attempts(self, units: list[list[dict]], reason: str | None = None) -> bool:
		"""Past the bound, what is left is held untried (and retried by the next run)."""
		if self.attempts < self.bound:
			return False
		self.hold(
			units,
			_("{0} (not isolated further: the outlet reached its bound of {1} attempts)").format(
				reason, self.bound
			)
			if reason
			else _("Not tried: the outlet reached its bound of {0} attempts.").format(self.bound),
		)
		return True

	def attempt(self, units: list[list[dict]]) -> str | None:
		"""Consolidate the units in a savepoint of their own: None when posted, else ERPNext's reason
		(and nothing of the attempt is left)."""
		self.attempts += 1
		invoices = [invoice for unit in units for invoice in unit]
		savepoint = Savepoint()
		try:
			consolidations = consolidate_all(invoices, self.held_before)
		except NOT_THE_SALES_FAULT:
			raise
		except frappe.ValidationError as e:
			savepoint.rollback()
			return self.failed(readable(str(e)) or type(e).__name__)
		savepoint.drop_messages()
		self.failures_in_a_row = 0
		self.consolidations += consolidations
		self.posted += [invoice.pos_invoice for invoice in invoices]
		return None

	def failed(self, reason: str) -> str:
		# ERPNext's messages name the attempt's own voucher and time ("… for Sales Invoice ACC-SINV-…
		# on 01-12-2026 20:51"): compare them without their digits.
		key = re.sub(r"\d+", "#", reason)
		self.failures_in_a_row = self.failures_in_a_row + 1 if key == self.last_reason else 1
		self.last_reason = key
		if not self.posted and self.failures_in_a_row >= self.give_up_after and len(self.units) > 1:
			raise SaleIndependentFailure(
				_("{0} (every sale failed alike: {1} attempts)").format(reason, self.attempts), self.attempts
			)
		return reason

	def split(self, units: list[list[dict]], reason: str) -> tuple[list, list]:
		"""Two parts to try, the first one first. When ERPNext's reason names what some of the units
		sell or who bought them ("… units of Item MANGO needed …", "Item OLD is disabled"), those are
		the suspects: the others go first, and if they post, the suspects are known bad without a
		retry, so one bad sale among n costs 2 attempts instead of about 2·log2(n). Otherwise halves,
		in posting order. A wrong suspicion costs attempts, never correctness: every part is tried."""
		if self.sold is None:
			self.sold = what_they_sell(self.invoices)
		suspects = [
			unit
			for unit in units
			if any(name and name in reason for invoice in unit for name in self.sold[invoice.pos_invoice])
		]
		if 0 < len(suspects) < len(units):
			return [unit for unit in units if unit not in suspects], suspects
		return units[: len(units) // 2], units[len(units) // 2 :]

	def hold(self, units: list[list[dict]], reason: str):
		reason = f"{reason} {held_sale_note()}"
		self.held += [
			{"pos_invoice": invoice.pos_invoice, "reason": reason} for unit in units for invoice in unit
		]


def held_sale_note() -> str:
	"""What happens to a held sale, said with ERPNext's reason wherever Desk shows it."""
	return _(
		"Held: the stock sync posts it once ERPNext accepts it (for stock, once a receipt is entered), "
		"dated the day it posts; the POS Invoice keeps its sale date."
	)


def held_before(invoices: list[dict]) -> set[str]:
	"""Which of the invoices an earlier run held (doctype Held POS Sale, named after the sale)."""
	if not invoices:
		return set()
	return set(
		frappe.get_all("Held POS Sale", filters={"name": ("in", list(names_of(invoices)))}, pluck="name")
	)


def names_what_they_sell(reason: str, invoices: list[dict]) -> bool:
	"""Whether ERPNext's reason names a sale, what it sells or who bought it: a refusal of the sales,
	not of the setup (a POS Profile's accounting dimension, say)."""
	return any(name and name in reason for names in what_they_sell(invoices).values() for name in names)


def what_they_sell(invoices: list[dict]) -> dict[str, set[str]]:
	"""Per invoice, the names ERPNext's reasons may mention: itself, customer, item codes, batches."""
	sold = {invoice.pos_invoice: {invoice.pos_invoice, invoice.customer} for invoice in invoices}
	item = frappe.qb.DocType("POS Invoice Item")
	for parent, item_code, batch_no in (
		frappe.qb.from_(item)
		.select(item.parent, item.item_code, item.batch_no)
		.where(item.parent.isin(list(sold) or [""]))
		.run()
	):
		sold[parent].update(n for n in (item_code, batch_no) if n)
	return sold


def sales_with_their_returns(invoices: list[dict]) -> list[list[dict]]:
	"""The invoices (in posting order) as units to post or hold together: each sale with the
	returns against it that are pending too; a return whose original is consolidated stands alone."""
	units, unit_of = [], {}
	for invoice in invoices:
		if invoice.is_return and invoice.return_against in unit_of:
			unit_of[invoice.return_against].append(invoice)
			continue
		unit = [invoice]
		units.append(unit)
		unit_of[invoice.pos_invoice] = unit
	return units


def validated_warehouse(outlet: dict) -> str:
	warehouse = outlet.franchise_warehouse
	if not warehouse:
		frappe.throw(_("Outlet {0} has no franchise warehouse configured.").format(outlet.name))
	if outlet.warehouse_disabled is None:
		frappe.throw(_("Warehouse {0} of outlet {1} does not exist.").format(warehouse, outlet.name))
	if outlet.warehouse_disabled:
		frappe.throw(_("Warehouse {0} of outlet {1} is disabled.").format(warehouse, outlet.name))
	return warehouse


# ── mark-only, a chunk at once ──────────────────────────────────────────────────────────────


def mark_outlets_at_once(outlets: list[dict]) -> list[int] | None:
	"""Mark-only mode for a whole chunk in two statements instead of two per outlet: count each
	warehouse's pending invoices, mark them all with one UPDATE. Per-outlet isolation is kept by
	falling back: when an outlet's data is bad, two outlets share a warehouse, or the UPDATE fails or
	marks other than what was counted (a cashier's invoice committed in between), nothing is left
	written and None asks the caller to take the outlets one by one, each in its savepoint.
	Returns the invoices marked per outlet, in order."""
	warehouses = [outlet.franchise_warehouse for outlet in outlets]
	usable = all(w and outlet.warehouse_disabled == 0 for w, outlet in zip(warehouses, outlets, strict=True))
	if not outlets or not usable or len(set(warehouses)) != len(warehouses):
		return None
	savepoint = Savepoint()
	try:
		pending = count_pending(warehouses)
		marked = mark_warehouses(warehouses)
	except frappe.QueryDeadlockError:
		raise  # InnoDB dropped the whole transaction: the caller redoes the chunk
	except Exception:
		savepoint.rollback()
		return None
	if marked != sum(pending.values()):
		savepoint.rollback()
		return None
	return [pending.get(w, 0) for w in warehouses]


def count_pending(warehouses: list[str]) -> dict[str, int]:
	invoice = frappe.qb.DocType("POS Invoice")
	return dict(
		frappe.qb.from_(invoice)
		.select(invoice.set_warehouse, Count("*"))
		.where(pending_in(invoice, warehouses))
		.groupby(invoice.set_warehouse)
		.run()
	)


def mark_warehouses(warehouses: list[str]) -> int:
	invoice = frappe.qb.DocType("POS Invoice")
	frappe.qb.update(invoice).set(invoice.custom_stock_synced, 1).where(pending_in(invoice, warehouses)).run()
	return frappe.db._cursor.rowcount  # pymysql's affected rows; Frappe has no API for it


def pending_in(invoice, warehouses: list[str]):
	"""Submitted, unmarked invoices of these warehouses: index scoopjoy_pending_sync."""
	return (
		invoice.set_warehouse.isin(warehouses) & (invoice.custom_stock_synced == 0) & (invoice.docstatus == 1)
	)


# ── reading and marking the outlet's invoices ──────────────────────────────────────────────


def lock_unconsolidated(warehouse: str) -> list[dict]:
	"""Every submitted, unconsolidated invoice of the warehouse, marked or not (a "Mark invoices only"
	run marked them without posting their stock), locked, in posting order. The locking read sees
	the latest committed rows, not this transaction's snapshot. Index scoopjoy_unconsolidated."""
	invoice = frappe.qb.DocType("POS Invoice")
	return (
		frappe.qb.from_(invoice)
		.select(
			invoice.name.as_("pos_invoice"),
			invoice.customer,
			invoice.posting_date,
			invoice.grand_total,
			invoice.is_return,
			invoice.return_against,
		)
		.where(
			(invoice.set_warehouse == warehouse)
			& (invoice.docstatus == 1)
			& (invoice.consolidated_invoice.isnull() | (invoice.consolidated_invoice == ""))
		)
		.orderby(invoice.posting_date)
		.orderby(invoice.posting_time)
		.orderby(invoice.name)
		.for_update()
		.run(as_dict=True)
	)


def mark_pending(warehouse: str, consolidated_only: bool = False) -> int:
	"""Mark the warehouse's submitted, unmarked invoices as synced, one UPDATE per page (index
	scoopjoy_pending_sync); an UPDATE reads the latest committed rows, so an overlapping run finds
	them marked. A system flag, not an edit: `modified` stays as the cashier left it."""
	invoice = frappe.qb.DocType("POS Invoice")
	condition = (
		(invoice.set_warehouse == warehouse) & (invoice.custom_stock_synced == 0) & (invoice.docstatus == 1)
	)
	if consolidated_only:
		condition &= invoice.consolidated_invoice.notnull() & (invoice.consolidated_invoice != "")
	page = frappe.qb.update(invoice).set(invoice.custom_stock_synced, 1).where(condition).limit(PAGE_SIZE)
	marked = 0
	while True:
		page.run()
		rows = frappe.db._cursor.rowcount  # pymysql's affected rows; Frappe has no API for it
		marked += rows
		if rows < PAGE_SIZE:  # a short page is the last
			return marked


def mark_synced(names: list[str]):
	invoice = frappe.qb.DocType("POS Invoice")
	for batch in create_batch(names, PAGE_SIZE):
		frappe.qb.update(invoice).set(invoice.custom_stock_synced, 1).where(invoice.name.isin(batch)).run()


def by_customer(invoices: list[dict]) -> dict[str, list[dict]]:
	"""One merge log per customer, as ERPNext's POS closing groups them."""
	groups = defaultdict(list)
	for row in invoices:
		groups[row.customer].append(row)
	return groups


# ── consolidating through ERPNext ───────────────────────────────────────────────────────────


def consolidate(customer: str, invoices: list[dict], dated_now: bool = False) -> list[dict]:
	"""One POS Invoice Merge Log, made and submitted as `create_merge_logs` makes it (a cashier's
	closing gives its own posting time; here it is now). Its submit makes the consolidated Sales
	Invoice and/or credit notes, which post the Stock Ledger, Bin and GL, and links every POS Invoice.
	`dated_now`: sales held before, which post at the merge log's time even where ERPNext dates a
	consolidated invoice by its sales (see post_held_sales_when_posted)."""
	merge_log = new_merge_log(customer, invoices, nowdate(), nowtime())
	merge_log.save(ignore_permissions=True)
	cache_pos_invoices([row.pos_invoice for row in invoices])
	# ERPNext maps every POS Invoice onto the Sales Invoice; each mapping loads the same masters again
	# (customer, company, …) for its fetched fields. Load each once per merge log.
	merge_log.merge_pos_invoice_into = partial(merge_loading_masters_once, merge_log, dated_now=dated_now)
	if not reasons_to_link_one_by_one():
		# This merge log only: its submit links the POS Invoices in bulk (merge logs made by anyone
		# else, a cashier's POS Closing included, keep ERPNext's own update_pos_invoices).
		merge_log.update_pos_invoices = partial(link_pos_invoices_in_bulk, merge_log)
	merge_log.submit()
	documents = documents_of(merge_log.name, merge_log.consolidated_invoice, consolidated_into(invoices))
	return [
		row | {"stock_qty": stock_qty_out([v for v in (row["sales_invoice"], row["credit_note"]) if v])}
		for row in documents
	]


def new_merge_log(customer: str, invoices: list[dict], posting_date, posting_time, closing=None):
	"""An unsaved POS Invoice Merge Log as ERPNext's create_merge_logs fills it: its company too where
	the merge log has one (mandatory since 15.99), the POS Invoices'."""
	merge_log = frappe.new_doc("POS Invoice Merge Log")
	merge_log.posting_date = posting_date
	merge_log.posting_time = posting_time
	merge_log.customer = customer
	merge_log.pos_closing_entry = closing
	if merge_log.meta.has_field("company"):
		merge_log.company = frappe.db.get_value("POS Invoice", invoices[0].pos_invoice, "company")
	merge_log.set("pos_invoices", invoices)
	return merge_log


def consolidated_into(invoices: list[dict]) -> dict[str, str]:
	"""{POS Invoice: the document it is consolidated into}, as this transaction sees it."""
	return dict(
		frappe.get_all(
			"POS Invoice",
			filters={"name": ("in", list(names_of(invoices)) or [""])},
			fields=["name", "consolidated_invoice"],
			as_list=True,
		)
	)


def documents_of(merge_log: str, sales_invoice: str | None, linked: dict[str, str]) -> list[dict]:
	"""Every document a submitted merge log made, as rows: its Sales Invoice with its first credit note,
	then one row per further credit note (ERPNext 15.99 and later make one credit note per original
	Sales Invoice; the merge log's consolidated_credit_note keeps only the last), each with how many
	POS Invoices it holds. `linked`: {POS Invoice of the merge log: the document it is linked to}."""
	per_document = Counter(linked.values())
	credit_notes = sorted(d for d in per_document if d and d != sales_invoice)
	first = credit_notes[0] if credit_notes else None
	rows = [
		{
			"merge_log": merge_log,
			"sales_invoice": sales_invoice,
			"credit_note": first,
			"invoices": per_document.get(sales_invoice, 0) + per_document.get(first, 0),
		}
	]
	rows += [
		{"merge_log": merge_log, "sales_invoice": None, "credit_note": note, "invoices": per_document[note]}
		for note in credit_notes[1:]
	]
	return rows


def merge_loading_masters_once(merge_log, invoice, data, dated_now: bool = False):
	"""ERPNext's own merge_pos_invoice_into, with frappe.get_doc remembering the documents it loads
	for the duration: there its only callers are the mapper's fetched fields (read-only lookups of
	masters such as the customer), which otherwise load the same documents once per POS Invoice."""
	loaded = {}
	get_doc = frappe.get_doc

	def get_doc_once(*args, **kwargs):
		if len(args) == 2 and not kwargs and all(isinstance(arg, str) for arg in args):
			if args not in loaded:
				loaded[args] = get_doc(*args)
			return loaded[args]
		return get_doc(*args, **kwargs)

	frappe.get_doc = get_doc_once
	try:
		invoice = POSInvoiceMergeLog.merge_pos_invoice_into(merge_log, invoice, data)
	finally:
		frappe.get_doc = get_doc
	if dated_now:
		post_held_sales_when_posted(merge_log, invoice)
	return invoice


def post_held_sales_when_posted(merge_log, invoice):
	"""Sales held for want of stock post when the stock is there, dated then. ERPNext 15.99 and later
	date a consolidated invoice at its sales' own time; a held sale dated so would need its stock
	received before the sale, and operators enter receipts today. Its revenue and stock movement are
	therefore dated when it posts (as every consolidation was before 15.99); the POS Invoice keeps its
	sale date, and its shift's closing counts it."""
	invoice.set_posting_time = 1
	invoice.posting_date = getdate(merge_log.posting_date)
	invoice.posting_time = get_time(merge_log.posting_time)


def cache_pos_invoices(names: list[str]):
	"""The merge log's submit reads each POS Invoice with get_cached_doc: a dozen queries per invoice
	(the invoice, then each of its child tables) when it is not cached. Load them all in one query per
	table, as load_from_db reads them (every column, children by parentfield in idx order), into
	Frappe's document cache; the bulk linking (or ERPNext's saves) clears them again, as does a
	rollback."""
	tables = frappe.get_meta("POS Invoice").get_table_fields()
	children = {
		df.fieldname: frappe.db.get_values(
			df.options,
			{"parent": ("in", names), "parenttype": "POS Invoice", "parentfield": df.fieldname},
			"*",
			as_dict=True,
			order_by="idx asc",
		)
		for df in tables
	}
	for row in frappe.db.get_values("POS Invoice", {"name": ("in", names)}, "*", as_dict=True, order_by=None):
		doc = frappe.get_doc(
			{
				**row,
				"doctype": "POS Invoice",
				**{table: [c for c in rows if c.parent == row.name] for table, rows in children.items()},
			}
		)
		frappe.cache.set_value(frappe.get_document_cache_key("POS Invoice", row.name), doc)


# ── linking the POS Invoices in bulk ───────────────────────────────────────────────────────
# ERPNext's POSInvoiceMergeLog.update_pos_invoices reloads and saves every POS Invoice one by one to
# set `consolidated_invoice` and the status (three quarters of a merge log's time). That save, an
# update after submit, changes nothing else on this site unless something listens to it: the
# listeners below are Frappe's own and act only when a rule of theirs exists for POS Invoice, which
# is checked. Anything else (another app's doc_events, a class override, a Notification, Webhook,
# Server Script, Workflow or rule on POS Invoice) makes the sync keep ERPNext's own path.
UPDATE_EVENTS = ("before_update_after_submit", "on_update_after_submit", "before_change", "on_change")
FRAPPES_OWN_LISTENERS = {
	"frappe.workflow.doctype.workflow_action.workflow_action.process_workflow_actions",  # a Workflow
	"frappe.automation.doctype.assignment_rule.assignment_rule.apply",  # an Assignment Rule
	"frappe.automation.doctype.assignment_rule.assignment_rule.update_due_date",  # an Assignment Rule
	"frappe.core.doctype.file.utils.attach_files_to_document",  # Attach fields: none change here
	"frappe.social.doctype.energy_point_rule.energy_point_rule.process_energy_points",  # a rule
	"frappe.automation.doctype.milestone_tracker.milestone_tracker.evaluate_milestone",  # a tracker
}
RULES_ON_POS_INVOICE = {
	"Workflow": {"document_type": "POS Invoice", "is_active": 1},
	"Assignment Rule": {"document_type": "POS Invoice", "disabled": 0},
	"Energy Point Rule": {"reference_doctype": "POS Invoice", "enabled": 1},
	"Milestone Tracker": {"document_type": "POS Invoice", "disabled": 0},
	"Notification": {"document_type": "POS Invoice", "enabled": 1},
	"Webhook": {"webhook_doctype": "POS Invoice", "enabled": 1},
	"Server Script": {"reference_doctype": "POS Invoice", "disabled": 0, "script_type": "DocType Event"},
}


def reasons_to_link_one_by_one() -> list[str]:
	"""What on this site would act on a POS Invoice's update after submit; empty: nothing."""
	doc_events = frappe.get_doc_hooks()
	hooks = {
		method
		for doctype in ("*", "POS Invoice")
		for event in UPDATE_EVENTS
		for method in doc_events.get(doctype, {}).get(event, [])
	} - FRAPPES_OWN_LISTENERS
	reasons = [_("doc_events hook {0}").format(method) for method in sorted(hooks)]
	if frappe.get_hooks("override_doctype_class", {}).get("POS Invoice"):
		reasons.append(_("a class override of POS Invoice"))
	reasons += [
		_("a {0} on POS Invoice").format(_(doctype))
		for doctype, filters in RULES_ON_POS_INVOICE.items()
		if frappe.db.exists(doctype, filters)
	]
	return reasons


def link_pos_invoices_in_bulk(merge_log, *args, **kwargs):
	"""What ERPNext's update_pos_invoices leaves, for one merge log's invoices in a few statements:
	`consolidated_invoice` (a credit note for returns), status Consolidated, and `modified` and
	`modified_by` as its save sets them: the audit trail of who consolidated each invoice and when,
	with the merge log that lists it. ERPNext's save writes no Version here (its set_status's db_set
	spends the "before" copy the save would compare against), and neither do we: test_bulk_linking
	compares the two paths row by row. A call in a form this does not know is ERPNext's own method's."""
	targets = link_targets(*args, **kwargs)
	if targets is None:
		return POSInvoiceMergeLog.update_pos_invoices(merge_log, *args, **kwargs)
	invoice_docs = args[0]
	now, user = now_datetime(), frappe.session.user
	by_target = defaultdict(list)
	for doc in invoice_docs:
		by_target[targets[doc.name]].append(doc.name)
	for target, names in by_target.items():
		link_to(target, names, now, user)
	for doc in invoice_docs:
		frappe.clear_document_cache("POS Invoice", doc.name)  # as each save would
	# One list refresh for the users who have the POS Invoice list open (its doctype room).
	frappe.publish_realtime(
		"list_update",
		{"doctype": "POS Invoice", "user": user},
		room=get_doctype_room("POS Invoice"),
		after_commit=True,
	)


def link_targets(*args, **kwargs) -> dict[str, str] | None:
	"""{POS Invoice: the document it is consolidated into}, as ERPNext's update_pos_invoices decides it,
	for the two contracts it has had: (invoice_docs, sales_invoice, credit_note) until 15.98, one
	credit note for all returns; (invoice_docs, sales_invoice, {credit note: [POS Invoices]}) since,
	a return going to the credit note that lists it (else, as there, to the sales invoice). None for
	any other call, such as the unlinking on cancel."""
	if kwargs or len(args) != 3:
		return None
	invoice_docs, sales_invoice, credit_notes = args
	if not isinstance(sales_invoice, str) or (not sales_invoice and not credit_notes):
		return None
	if isinstance(credit_notes, str):
		return {doc.name: credit_notes if doc.is_return else sales_invoice for doc in invoice_docs}
	if not isinstance(credit_notes, dict) or not all(
		isinstance(note, str) and isinstance(names, list | tuple | set)
		for note, names in credit_notes.items()
	):
		return None
	note_of = {name: note for note, names in credit_notes.items() for name in names}
	return {
		doc.name: note_of.get(doc.name, sales_invoice) if doc.is_return else sales_invoice
		for doc in invoice_docs
	}


def link_to(target: str, names: list[str], now, user: str):
	invoice = frappe.qb.DocType("POS Invoice")
	for batch in create_batch(names, PAGE_SIZE):
		frappe.qb.update(invoice).set(invoice.consolidated_invoice, target).set(
			invoice.status, "Consolidated"
		).set(invoice.modified, now).set(invoice.modified_by, user).where(
			invoice.name.isin(batch)
			& (invoice.docstatus == 1)
			& (invoice.consolidated_invoice.isnull() | (invoice.consolidated_invoice == ""))
		).run()
		if frappe.db._cursor.rowcount != len(batch):  # pymysql's affected rows
			# The merge log validated them unconsolidated under the sync's locks: never expected.
			frappe.throw(
				_("Some POS Invoices of {0} were consolidated by someone else meanwhile.").format(target)
			)


def stock_qty_out(vouchers: list[str]) -> float:
	"""What left the warehouse, in stock UOM, as the Stock Ledger has it (a return counts negative)."""
	if not vouchers:
		return 0.0
	sle = frappe.qb.DocType("Stock Ledger Entry")
	posted = (
		frappe.qb.from_(sle)
		.select(frappe.query_builder.functions.Sum(sle.actual_qty))
		.where(
			(sle.voucher_type == "Sales Invoice") & sle.voucher_no.isin(vouchers) & (sle.is_cancelled == 0)
		)
		.run()
	)[0][0]
	return -flt(posted)


@contextmanager
def posting_session():
	"""How a worker posts, from its next transaction on, restored afterwards.

	As the system, like a scheduled job: the Stock Manager who pressed Sync Stock may not create
	Sales Invoices; the run records who triggered it.

	READ COMMITTED: a chunk runs for seconds while cashiers keep submitting invoices. The locking read
	sees an invoice submitted after the chunk began, and ERPNext's plain reads of it during
	consolidation must see it too (REPEATABLE READ would show them the chunk's older snapshot). It
	also takes no gap locks, so a cashier's new invoice never waits for the sync's chunk."""
	user = frappe.session.user
	# A session variable: no query-builder form.
	level = frappe.db.sql("SELECT @@SESSION.tx_isolation")  # nosemgrep: frappe-using-db-sql
	isolation = level[0][0].replace("-", " ")
	frappe.set_user("Administrator")
	set_isolation_level("READ COMMITTED")
	frappe.flags.scoopjoy_posting = True  # its own credit notes are no stock-in to react to
	try:
		yield
	finally:
		frappe.flags.scoopjoy_posting = False
		set_isolation_level(isolation)
		frappe.set_user(user)


def set_isolation_level(level: str):
	if level not in ("READ COMMITTED", "REPEATABLE READ", "READ UNCOMMITTED", "SERIALIZABLE"):
		raise ValueError(level)
	# No query-builder form for SET SESSION; the level is one of four constants.
	frappe.db.sql(f"SET SESSION TRANSACTION ISOLATION LEVEL {level}")  # nosemgrep: frappe-using-db-sql


def readable(message: str) -> str:
	"""ERPNext's messages carry HTML (<strong>, links to documents): the text a person reads."""
	return " ".join(html.unescape(strip_html_tags(message or "")).split())
