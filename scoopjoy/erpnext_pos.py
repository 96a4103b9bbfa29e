"""The door to ERPNext's POS code: every contact scoopjoy has with ERPNext is in this module.

No other module of the app imports ERPNext (tests/unit/test_erpnext_door.py fails when one does). The
contacts, each listed with what the app relies on and the test that guards it in docs/how-it-works.md:

- what the running ERPNext offers (`offers()`): decided from ERPNext's own code once per process,
  never from its version number; the site's POS Settings, read per site (`pos_sells_sales_invoices`);
- making and submitting merge logs as ERPNext's create_merge_logs makes them (`consolidate`), grouped
  by ERPNext's own functions (`merge_log_groups`); the sync's speed shortcuts are instance methods of
  the merge log it made, and run ERPNext's and Frappe's own code with a name resolved differently for
  that one call (`with_names`): nothing in Frappe or ERPNext is ever assigned, so no other thread,
  site or caller sees them;
- the bulk linking of the consolidated POS Invoices, for the call contracts update_pos_invoices has had;
- the closing: ERPNext's listing, its on_submit and retry with the consolidation the app's, the checks
  and dispatch the app mirrors, its background job.

Where the app mirrors ERPNext's behaviour instead of calling it (MIRRORED), a test runs ERPNext's own
beside it on the same data, and the mirrored function's fingerprint is kept: an ERPNext that changes
one fails test_erpnext_door loudly, naming it, instead of changing what the app does quietly.
"""

import hashlib
import html
import inspect
import json
import types
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import cache, partial

import erpnext
import frappe
from erpnext.accounts.doctype.pos_closing_entry import pos_closing_entry as erpnext_closing
from erpnext.accounts.doctype.pos_closing_entry.pos_closing_entry import (
	POSClosingEntry,
	make_closing_entry_from_opening,
)
from erpnext.accounts.doctype.pos_invoice.pos_invoice import get_pos_reserved_qty, make_sales_return
from erpnext.accounts.doctype.pos_invoice_merge_log import pos_invoice_merge_log as erpnext_merge_log
from erpnext.accounts.doctype.pos_invoice_merge_log.pos_invoice_merge_log import (
	POSInvoiceMergeLog,
	create_merge_logs,
	get_error_message,
	get_invoice_customer_map,
	split_invoices,
)
from erpnext.accounts.doctype.pos_opening_entry.pos_opening_entry import POSOpeningEntry
from erpnext.accounts.doctype.sales_invoice.sales_invoice import SalesInvoice
from erpnext.accounts.utils import FiscalYearError
from erpnext.exceptions import InvalidAccountDimensionError, MandatoryAccountDimensionError
from erpnext.stock.doctype.batch.batch import get_batch_qty
from erpnext.stock.doctype.serial_and_batch_bundle.serial_and_batch_bundle import BatchNegativeStockError
from erpnext.stock.doctype.stock_ledger_entry.stock_ledger_entry import StockFreezeError
from erpnext.stock.stock_ledger import NegativeStockError
from erpnext.stock.utils import PendingRepostingError
from frappe import _
from frappe.model import mapper
from frappe.realtime import get_doctype_room
from frappe.utils import create_batch, flt, get_time, getdate, now_datetime, nowdate, nowtime, strip_html_tags

__all__ = [  # ERPNext's own, handed on unchanged (the benchmarks time ERPNext's own path through them)
	"POSClosingEntry",
	"SalesInvoice",
	"create_merge_logs",
	"get_error_message",
	"get_invoice_customer_map",
	"get_pos_reserved_qty",
	"make_closing_entry_from_opening",
	"make_sales_return",
]

PAGE_SIZE = 500  # POS Invoices linked per UPDATE statement

# ERPNext refusals that do not depend on the sale (an accounting dimension, a closed fiscal year, a
# frozen stock period, a pending repost): they fail the outlet or the closing whole.
NOT_THE_SALES_FAULT = (
	MandatoryAccountDimensionError,
	InvalidAccountDimensionError,
	FiscalYearError,
	StockFreezeError,
	PendingRepostingError,
)
# ERPNext refusing sales for want of stock at their posting time: of an item, or of a batch.
SHORT_OF_STOCK = (NegativeStockError, BatchNegativeStockError)


def erpnext_version() -> str:
	return erpnext.__version__


class ERPNextChanged(Exception):
	"""The running ERPNext no longer has what the app relies on: a maintainer reviews the contact."""


# ── what the running ERPNext offers ──────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Offers:
	credit_note_per_original: bool  # one credit note per original Sales Invoice (else one for all returns)
	item_row_per_sale: bool  # every sold line its own consolidated item row (else merged per item)
	dated_by_sale: bool  # the consolidated Sales Invoice takes its sales' posting time
	splits_by_accounting_dimension: bool  # other cost centers or dimensions, other merge logs
	merge_log_has_company: bool
	closing_lists_on_server: bool  # the closing form lists through get_invoices (else get_pos_invoices)
	closing_sales_table: str  # the closing's table of POS Invoices
	one_open_shift_per_cashier: bool
	has_sales_invoice_mode: bool  # POS Settings can make each POS sale a Sales Invoice


@cache
def offers() -> Offers:
	"""Read from ERPNext's code (its functions' names and its DocTypes' JSON), once per process."""
	merge = code_names(POSInvoiceMergeLog.merge_pos_invoice_into)
	return Offers(
		credit_note_per_original=hasattr(POSInvoiceMergeLog, "process_merging_into_credit_notes"),
		item_row_per_sale="pos_invoice_item" in merge,
		dated_by_sale="posting_date" in merge,
		splits_by_accounting_dimension=hasattr(erpnext_merge_log, "split_invoices_by_accounting_dimension"),
		merge_log_has_company="company" in doctype_fields("POS Invoice Merge Log"),
		closing_lists_on_server=hasattr(erpnext_closing, "get_invoices"),
		closing_sales_table="pos_invoices"
		if "pos_invoices" in doctype_fields("POS Closing Entry")
		else "pos_transactions",
		one_open_shift_per_cashier=hasattr(POSOpeningEntry, "check_user_already_assigned"),
		has_sales_invoice_mode="invoice_type" in doctype_fields("POS Settings"),
	)


def doctype_fields(doctype: str) -> set[str]:
	"""The fieldnames of one of ERPNext's accounts DocTypes, as its JSON in ERPNext's code has them."""
	path = frappe.get_app_path(
		"erpnext", "accounts", "doctype", frappe.scrub(doctype), f"{frappe.scrub(doctype)}.json"
	)
	with open(path) as definition:
		return {field["fieldname"] for field in json.load(definition)["fields"]}


def code_names(function) -> set[str]:
	"""The global and attribute names a function's code uses, its nested functions' included."""
	names, pending = set(), [function.__code__]
	while pending:
		code = pending.pop()
		names.update(code.co_names)
		pending += [const for const in code.co_consts if isinstance(const, types.CodeType)]
	return names


def pos_sells_sales_invoices() -> bool:
	"""This site's POS Settings make each POS sale a Sales Invoice ("Sales Invoice" mode, the default of
	a new ERPNext 16 site): it posts its stock and GL at once, leaving the sync only older POS Invoices."""
	return (
		offers().has_sales_invoice_mode
		and frappe.db.get_single_value("POS Settings", "invoice_type") == "Sales Invoice"
	)


def use_pos_invoices():
	"""This site's POS makes POS Invoices, which the sync posts (a no-op where that is all it can make)."""
	if offers().has_sales_invoice_mode:
		frappe.db.set_single_value("POS Settings", "invoice_type", "POS Invoice")


def closing_sales_table(closing) -> str:
	return offers().closing_sales_table


def closing_sales(closing) -> list:
	return closing.get(offers().closing_sales_table)


# ── running ERPNext's own code with a name resolved differently, for one call ────────────────


def with_names(function, **names):
	"""A copy of ERPNext's or Frappe's own `function` in which the global `names` of its module resolve
	to the given objects. Only calls made through the copy see them: the module, and every other
	caller and thread, keep the originals. Raises ERPNextChanged when the function no longer uses a
	name, so a release that moves the call fails loudly instead of losing the app's part silently."""
	unused = sorted(set(names) - code_names(function))
	if unused:
		raise ERPNextChanged(
			_("{0}.{1} no longer uses {2}: scoopjoy's contact with it needs a review.").format(
				function.__module__, function.__qualname__, ", ".join(unused)
			)
		)
	copy = types.FunctionType(
		function.__code__,
		{**function.__globals__, **names},
		function.__name__,
		function.__defaults__,
		function.__closure__,
	)
	copy.__kwdefaults__ = function.__kwdefaults__
	return copy


class FrappeWith:
	"""Frappe as a function sees it, with some of its functions answered otherwise (see with_names)."""

	def __init__(self, **functions):
		self.__dict__.update(functions)

	def __getattr__(self, name):
		return getattr(frappe, name)


def mapper_loading_masters_once():
	"""Frappe's map_doc and map_child_doc whose fetched fields load each linked master once: ERPNext
	maps every POS Invoice (and, where it keeps a row per sale, every sold line) onto the consolidated
	invoice, and each mapping loads the same customer, company and items again. Read-only lookups;
	the documents live as long as the returned functions (one merge log)."""
	loaded = {}

	def get_doc(*args, **kwargs):
		if len(args) == 2 and not kwargs and all(isinstance(arg, str) for arg in args):
			if args not in loaded:
				loaded[args] = frappe.get_doc(*args)
			return loaded[args]
		return frappe.get_doc(*args, **kwargs)

	fetch = with_names(mapper.map_fetch_fields, frappe=FrappeWith(get_doc=get_doc))
	fields = with_names(mapper.map_fields, map_fetch_fields=fetch)
	map_doc = with_names(mapper.map_doc, map_fields=fields)
	return map_doc, with_names(mapper.map_child_doc, map_doc=map_doc)


# ── making and submitting merge logs ─────────────────────────────────────────────────────────


def consolidate_all(invoices: list[dict], held_before: set[str] = frozenset()) -> list[dict]:
	"""What a POS closing does with these invoices: the merge logs ERPNext's create_merge_logs makes
	(see merge_log_groups). The rows returned are the documents made (see documents_of)."""
	return [
		row
		for customer, group in merge_log_groups(invoices, held_before)
		for row in consolidate(customer, group, dated_now=bool(held_before & names_of(group)))
	]


def consolidate_in_order(invoices: list[dict], held_before: set[str] = frozenset()) -> list[dict]:
	"""The invoices posted in the order the shop lived them: each stretch of sales between returns, then
	each stretch of returns, in merge logs of their own, every merge log dated at its last invoice's own
	time (so its credit notes are too); sales held before go last, dated now (see consolidate_all).

	ERPNext's merge log posts its sales before its returns and dates its credit notes at its own time
	(since 15.99; frappe/erpnext#54183): a tub refunded and sold again is back in the ledger only after
	the sale that resold it, which ERPNext then refuses for want of stock. The sync takes this path
	only when ERPNext's own grouping was refused so (scoopjoy.sale_isolation): where ERPNext's closing
	posts a day, the sync posts it as that closing does."""
	fresh = [row for row in invoices if row.pos_invoice not in held_before]
	rows = []
	for stretch in stretches(fresh):
		groups = sorted(merge_log_groups(stretch), key=lambda group: posting_order(group[1][-1]))
		for customer, group in groups:
			last = group[-1]
			rows += consolidate(customer, group, at=(last.posting_date, last.posting_time))
	held = [row for row in invoices if row.pos_invoice in held_before]
	return rows + (consolidate_all(held, held_before) if held else [])


def stretches(invoices: list[dict]) -> list[list[dict]]:
	"""The invoices in posting order, cut wherever sales turn to returns or returns to sales."""
	cut = []
	for row in sorted(invoices, key=posting_order):
		if cut and bool(cut[-1][-1].is_return) == bool(row.is_return):
			cut[-1].append(row)
		else:
			cut.append([row])
	return cut


def posting_order(row: dict) -> tuple:
	return (getdate(row.posting_date), get_time(row.posting_time), row.pos_invoice)


def merge_log_groups(invoices: list[dict], held_before: set[str] = frozenset()) -> list[tuple[str, list]]:
	"""[(customer, invoices of one merge log)], as the running ERPNext groups them: its own
	get_invoice_customer_map (per customer, then, where it splits so, per set of accounting
	dimensions), then its split_invoices (serial-number returns). Sales held before are kept apart:
	their merge logs are dated when they post (see consolidate)."""
	groups = []
	for customer, of_customer in get_invoice_customer_map(invoices).items():
		same_dimensions = list(of_customer.values()) if isinstance(of_customer, dict) else [of_customer]
		for was_held in (False, True):
			for same in same_dimensions:
				part = [row for row in same if (row.pos_invoice in held_before) == was_held]
				groups += [(customer, group) for group in split_invoices(part)] if part else []
	return groups


def names_of(invoices: list[dict]) -> set[str]:
	return {row.pos_invoice for row in invoices}


def consolidate(
	customer: str, invoices: list[dict], dated_now: bool = False, at: tuple | None = None
) -> list[dict]:
	"""One POS Invoice Merge Log, made and submitted as `create_merge_logs` makes it (a cashier's
	closing gives its own posting time; here it is now, or `at`: (date, time)). Its submit makes the
	consolidated Sales Invoice and/or credit notes, which post the Stock Ledger, Bin and GL, and links
	every POS Invoice. `dated_now`: sales held before, which post at the merge log's time even where
	ERPNext dates a consolidated invoice by its sales (see dated_when_posted)."""
	posting_date, posting_time = at or (nowdate(), nowtime())
	merge_log = new_merge_log(customer, invoices, posting_date, posting_time)
	merge_log.save(ignore_permissions=True)
	speed_up(merge_log, dated_now)
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
	if offers().merge_log_has_company:
		merge_log.company = frappe.db.get_value("POS Invoice", invoices[0].pos_invoice, "company")
	merge_log.set("pos_invoices", invoices)
	return merge_log


def speed_up(merge_log, dated_now: bool):
	"""The sync's shortcuts, as instance methods of this merge log alone (merge logs made by anyone else,
	a cashier's POS Closing included, keep ERPNext's own methods): its submit reads the POS Invoices
	from one query per table instead of a dozen per invoice, maps them loading each master once, and
	links them in bulk unless something on the site listens to their saves."""
	merge_log.on_submit = partial(
		with_names(
			POSInvoiceMergeLog.on_submit, frappe=FrappeWith(get_cached_doc=pos_invoices_of(merge_log))
		),
		merge_log,
	)
	merge_log.merge_pos_invoice_into = partial(merged_loading_masters_once, merge_log, dated_now)
	if not reasons_to_link_one_by_one():
		merge_log.update_pos_invoices = partial(link_pos_invoices_in_bulk, merge_log)


def pos_invoices_of(merge_log):
	"""get_cached_doc for the merge log's submit: its POS Invoices loaded together, one query per table,
	as load_from_db reads them (every column, children by parentfield in idx order); anything else is
	Frappe's own get_cached_doc."""
	names = [row.pos_invoice for row in merge_log.pos_invoices]
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
	loaded = {
		row.name: frappe.get_doc(
			{
				**row,
				"doctype": "POS Invoice",
				**{table: [c for c in rows if c.parent == row.name] for table, rows in children.items()},
			}
		)
		for row in frappe.db.get_values(
			"POS Invoice", {"name": ("in", names)}, "*", as_dict=True, order_by=None
		)
	}

	def get_cached_doc(*args, **kwargs):
		if len(args) == 2 and not kwargs and args[0] == "POS Invoice" and args[1] in loaded:
			return loaded[args[1]]
		return frappe.get_cached_doc(*args, **kwargs)

	return get_cached_doc


def merged_loading_masters_once(merge_log, dated_now: bool, invoice, data):
	"""ERPNext's own merge_pos_invoice_into, its mapping loading each master once (see
	mapper_loading_masters_once), and held sales dated when they post."""
	map_doc, map_child_doc = mapper_loading_masters_once()
	merge = with_names(
		POSInvoiceMergeLog.merge_pos_invoice_into, map_doc=map_doc, map_child_doc=map_child_doc
	)
	invoice = merge(merge_log, invoice, data)
	if dated_now:
		dated_when_posted(merge_log, invoice)
	return invoice


def dated_when_posted(merge_log, invoice):
	"""Sales held for want of stock post when the stock is there, dated then. Where ERPNext dates a
	consolidated invoice at its sales' own time (offers().dated_by_sale), a held sale dated so would
	need its stock received before the sale, and operators enter receipts today. Its revenue and stock
	movement are therefore dated when it posts; the POS Invoice keeps its sale date, and its shift's
	closing counts it."""
	invoice.set_posting_time = 1
	invoice.posting_date = getdate(merge_log.posting_date)
	invoice.posting_time = get_time(merge_log.posting_time)


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
	then one row per further credit note (where ERPNext makes one credit note per original Sales
	Invoice, the merge log's consolidated_credit_note keeps only the last), each with how many POS
	Invoices it holds. `linked`: {POS Invoice of the merge log: the document it is linked to}."""
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


def stock_needed(invoices: list[str]) -> dict[str, dict[tuple, float]]:
	"""{sale: {(item, batch or None): quantity in stock UOM}}: what each of these sales takes from its
	warehouse, as its consolidated invoice posts it: its stock items, from the batch its POS Invoice
	names or its Serial and Batch Bundle holds; a bundle's items by its Product Bundle (a sundae is
	scoops: ERPNext packs them on the consolidated invoice, and before 15.99 only there). Returns take
	nothing."""
	if not invoices:
		return {}
	needed = {name: defaultdict(float) for name in invoices}
	lines = frappe.get_all(
		"POS Invoice Item",
		filters={"parent": ("in", invoices), "stock_qty": (">", 0)},
		fields=["parent", "item_code", "stock_qty", "batch_no", "serial_and_batch_bundle"],
	)
	items = {line.item_code for line in lines}
	packs = defaultdict(list)
	for part in frappe.get_all(
		"Product Bundle Item",
		filters={"parent": ("in", list(items) or [""]), "parenttype": "Product Bundle"},
		fields=["parent", "item_code", "qty"],
	):
		packs[part.parent].append(part)
	items |= {part.item_code for parts in packs.values() for part in parts}
	stock_items = set(
		frappe.get_all(
			"Item", filters={"name": ("in", list(items) or [""]), "is_stock_item": 1}, pluck="name"
		)
	)
	bundled = batches_in_bundles([line.serial_and_batch_bundle for line in lines])
	for line in lines:
		for part in packs.get(line.item_code, ()):
			if part.item_code in stock_items:
				needed[line.parent][(part.item_code, None)] += flt(part.qty) * flt(line.stock_qty)
		if line.item_code in stock_items:
			by_batch = bundled.get(line.serial_and_batch_bundle) or {
				line.batch_no or None: flt(line.stock_qty)
			}
			for batch, qty in by_batch.items():
				needed[line.parent][(line.item_code, batch)] += qty
	return {name: dict(need) for name, need in needed.items()}


def batches_in_bundles(bundles: list[str]) -> dict[str, dict[str, float]]:
	"""{Serial and Batch Bundle: {batch: quantity}} (serial numbers count one each, under no batch)."""
	held = defaultdict(lambda: defaultdict(float))
	for entry in frappe.get_all(
		"Serial and Batch Entry",
		filters={"parent": ("in", [b for b in bundles if b] or [""])},
		fields=["parent", "batch_no", "qty"],
	):
		held[entry.parent][entry.batch_no or None] += abs(flt(entry.qty))
	return held


def on_hand(warehouse: str, needs: set[tuple]) -> dict[tuple, float]:
	"""{(item, batch or None): what the warehouse holds now}, by the Bin and ERPNext's batch balance."""
	return {
		(item, batch): flt(
			get_batch_qty(batch_no=batch, warehouse=warehouse)
			if batch
			else frappe.db.get_value("Bin", {"item_code": item, "warehouse": warehouse}, "actual_qty")
		)
		for item, batch in needs
	}


def readable(message: str) -> str:
	"""ERPNext's messages carry HTML (<strong>, links to documents): the text a person reads."""
	return " ".join(html.unescape(strip_html_tags(message or "")).split())


# ── linking the POS Invoices in bulk ───────────────────────────────────────────────────────
# ERPNext's POSInvoiceMergeLog.update_pos_invoices reloads and saves every POS Invoice one by one to
# set `consolidated_invoice` and the status (three quarters of a merge log's time). That save, an
# update after submit, changes nothing else on this site unless something listens to it: the
# listeners below are Frappe's own and act only when a rule of theirs exists for POS Invoice, which
# is checked. Anything else (another app's doc_events, a class override, a Notification, Webhook,
# Server Script, Workflow or rule on POS Invoice, a listener Frappe adds) keeps ERPNext's own path.
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
	for the two contracts it has had: (invoice_docs, sales_invoice, credit_note) where one credit note
	takes every return; (invoice_docs, sales_invoice, {credit note: [POS Invoices]}) where there is one
	per original, a return going to the credit note that lists it (else, as there, to the sales
	invoice). None for any other call, such as the unlinking on cancel."""
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
	linked = frappe.db.count("POS Invoice", {"name": ("in", names), "consolidated_invoice": target})
	if linked != len(names):
		# The merge log validated them unconsolidated under the sync's locks: never expected.
		frappe.throw(
			_("Some POS Invoices of {0} were consolidated by someone else meanwhile.").format(target)
		)


# ── the closing ──────────────────────────────────────────────────────────────────────────────


def erpnext_listing(start, end, pos_profile, user):
	"""ERPNext's own listing of a shift for the closing form: get_invoices where the form lists on the
	server ({"invoices", "payments", "taxes"}), else get_pos_invoices (the sales as documents)."""
	if offers().closing_lists_on_server:
		return erpnext_closing.get_invoices(start, end, pos_profile, user)
	return erpnext_closing.get_pos_invoices(start, end, pos_profile, user)


def closing_totals(invoices: list[dict]) -> dict:
	"""ERPNext's own payments and taxes of a server-side listing, for these invoices."""
	return {
		"invoices": invoices,
		"payments": erpnext_closing.get_payments(invoices),
		"taxes": erpnext_closing.get_taxes(invoices),
	}


def submit_closing(closing, consolidate_pos_invoices):
	"""ERPNext's own POSClosingEntry.on_submit (the consolidation, then what each ERPNext does after it:
	announcing the closed shift to the POS page, marking the shift's Sales Invoices closed), its
	consolidate_pos_invoices resolved to the app's for this call."""
	with_names(POSClosingEntry.on_submit, consolidate_pos_invoices=consolidate_pos_invoices)(closing)


def retry_closing(closing, consolidate_pos_invoices):
	"""ERPNext's own POSClosingEntry.retry, its consolidation the app's (see submit_closing)."""
	with_names(POSClosingEntry.retry, consolidate_pos_invoices=consolidate_pos_invoices)(closing)


# MIRRORED: the consolidation of a closing goes to a background job from this many sales, as ERPNext's
# consolidate_pos_invoices decides (the app counts only the sales still to consolidate).
QUEUE_FROM = 10


def enqueue_closing_job(job, closing):
	"""ERPNext's own enqueue_job for a closing's consolidation (its job id, queue, timeout, event and
	message), with `job` in place of its create_merge_logs."""
	with_names(erpnext_merge_log.enqueue_job, create_merge_logs=job)(job, closing_entry=closing)


def closing_mismatches(closing, rows) -> list[str]:
	"""MIRRORED from ERPNext's POSClosingEntry.validate_pos_invoices: its profile and cashier checks (and
	their messages, which name the closing's owner), for sales its own check stops at "consolidated"."""
	errors = []
	for row in rows:
		profile, owner = frappe.db.get_value("POS Invoice", row.pos_invoice, ["pos_profile", "owner"])
		if profile != closing.pos_profile:
			errors.append(
				_("Row #{}: {}").format(
					row.idx, _("POS Profile doesn't match {}").format(frappe.bold(closing.pos_profile))
				)
			)
		if owner != closing.user:
			errors.append(
				_("Row #{}: {}").format(
					row.idx, _("POS Invoice isn't created by user {}").format(frappe.bold(closing.owner))
				)
			)
	return errors


# ── what the app mirrors, fingerprinted ───────────────────────────────────────────────────────
# Each function whose behaviour the app relies on beyond calling it, with the fingerprints of the
# versions of it reviewed against the app (scoopjoy.erpnext_pos.fingerprint). A new one fails
# test_erpnext_door: review what changed against the app's part, then add the new fingerprint.


def mirrored() -> dict[str, object]:
	functions = {
		"POSInvoiceMergeLog.on_submit": POSInvoiceMergeLog.on_submit,
		"POSInvoiceMergeLog.merge_pos_invoice_into": POSInvoiceMergeLog.merge_pos_invoice_into,
		"POSInvoiceMergeLog.update_pos_invoices": POSInvoiceMergeLog.update_pos_invoices,
		"pos_invoice_merge_log.create_merge_logs": erpnext_merge_log.create_merge_logs,
		"pos_invoice_merge_log.consolidate_pos_invoices": erpnext_merge_log.consolidate_pos_invoices,
		"pos_invoice_merge_log.enqueue_job": erpnext_merge_log.enqueue_job,
		"POSClosingEntry.validate_pos_invoices": POSClosingEntry.validate_pos_invoices,
		"POSClosingEntry.on_submit": POSClosingEntry.on_submit,
		"POSClosingEntry.retry": POSClosingEntry.retry,
		"frappe.model.mapper.map_fetch_fields": mapper.map_fetch_fields,
	}
	# The shop's order (consolidate_in_order) relies on how these date what they make.
	functions["POSInvoiceMergeLog.process_merging_into_sales_invoice"] = (
		POSInvoiceMergeLog.process_merging_into_sales_invoice
	)
	if offers().credit_note_per_original:
		functions["POSInvoiceMergeLog.process_merging_into_credit_notes"] = (
			POSInvoiceMergeLog.process_merging_into_credit_notes
		)
	else:
		functions["POSInvoiceMergeLog.process_merging_into_credit_note"] = (
			POSInvoiceMergeLog.process_merging_into_credit_note
		)
	if offers().closing_lists_on_server:
		functions["pos_closing_entry.get_invoices"] = erpnext_closing.get_invoices
	else:
		functions["pos_closing_entry.get_pos_invoices"] = erpnext_closing.get_pos_invoices
	return functions


# Reviewed against the app: {function: {fingerprint: where it was reviewed}}.
REVIEWED: dict[str, dict[str, str]] = {
	"POSInvoiceMergeLog.on_submit": {
		"c8e03a0792c29e47": "ERPNext 15 of December 2024",
		"921fc0fc1115e0df": "ERPNext 15.99, ERPNext 16.7",
	},
	"POSInvoiceMergeLog.merge_pos_invoice_into": {
		"f658eee504d5d262": "ERPNext 15 of December 2024",
		"8b41de0eb45df497": "ERPNext 15.99",
		"1d9e7422e03d6a87": "ERPNext 16.7",
	},
	"POSInvoiceMergeLog.process_merging_into_sales_invoice": {
		"2a0adaa7833b1501": "ERPNext 15 of December 2024",
		"0ee2975a82135b62": "ERPNext 15.99",
		"37ff3ec998406b1a": "ERPNext 16.7",
	},
	"POSInvoiceMergeLog.process_merging_into_credit_note": {
		"7adcc45b4994a7e4": "ERPNext 15 of December 2024",
	},
	"POSInvoiceMergeLog.process_merging_into_credit_notes": {
		"0b768cbc7f683ffb": "ERPNext 15.99",
		"9d3c5a2dd2d6f285": "ERPNext 16.7",
	},
	"POSInvoiceMergeLog.update_pos_invoices": {
		"189bf8e84196167e": "ERPNext 15 of December 2024",
		"bd35fd2a67bbaf8d": "ERPNext 15.99, ERPNext 16.7",
	},
	"pos_invoice_merge_log.create_merge_logs": {
		"b8399083694b63e2": "ERPNext 15 of December 2024",
		"8160f197f7fbca1b": "ERPNext 15.99, ERPNext 16.7",
	},
	"pos_invoice_merge_log.consolidate_pos_invoices": {
		"b47470da77b7f9d6": "ERPNext 15 of December 2024, ERPNext 15.99",
		"2d86e1252465845d": "ERPNext 16.7",
	},
	"pos_invoice_merge_log.enqueue_job": {
		"9ab129f0dcf0fd0d": "ERPNext 15 of December 2024, ERPNext 15.99",
		"850fa3c329c0ff1b": "ERPNext 16.7",
	},
	"POSClosingEntry.validate_pos_invoices": {
		"b0aca4b8290127af": "ERPNext 15 of December 2024, ERPNext 15.99",
		"16dcf55d2ddedd28": "ERPNext 16.7",
	},
	"POSClosingEntry.on_submit": {
		"3c705bfa3904c8eb": "ERPNext 15 of December 2024",
		"8da71e2453ec5ef7": "ERPNext 15.99",
		"cb925ee5d055b3c8": "ERPNext 16.7",
	},
	"POSClosingEntry.retry": {
		"80b38785c47f0435": "ERPNext 15 of December 2024, ERPNext 15.99, ERPNext 16.7",
	},
	"frappe.model.mapper.map_fetch_fields": {
		"4b1820bafadc98f0": "Frappe 15.55",
		"c9a7422211233b9e": "Frappe 15.101, Frappe 16.10",
	},
	"pos_closing_entry.get_pos_invoices": {
		"57411e7be0b973e0": "ERPNext 15 of December 2024",
		"432514707a1d240d": "ERPNext 15.99",
	},
	"pos_closing_entry.get_invoices": {
		"0fd3a512572806e2": "ERPNext 16.7",
	},
}


def fingerprint(function) -> str:
	"""The function's source without blank lines, comments, decorators or indentation, hashed."""
	lines = (line.strip() for line in inspect.getsource(function).splitlines())
	kept = "\n".join(line for line in lines if line and not line.startswith(("#", "@")))
	return hashlib.sha256(kept.encode()).hexdigest()[:16]


def unreviewed() -> dict[str, str]:
	"""{mirrored function: its fingerprint} for those this ERPNext has in a version nobody reviewed."""
	return {
		name: print_
		for name, function in mirrored().items()
		if (print_ := fingerprint(function)) not in REVIEWED.get(name, ())
	}
