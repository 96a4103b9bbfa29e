"""Isolating the bad sales of an outlet: ERPNext validates a whole merge log at once, so one sale it
refuses (not enough stock, a disabled item, a batch no longer there) fails every sale of its outlet.

The outlet's sales are split in posting order and the halves retried, each attempt in its own
savepoint: k bad sales among n cost about 2·k·log2(n) attempts, and everything else is posted in the
same run. A failure that does not depend on the sale (erpnext_pos.NOT_THE_SALES_FAULT: an accounting
dimension, a frozen stock period, a closed fiscal year; or a deadlock or lock wait) is not split: it
fails the outlet whole.

When ERPNext refuses for want of stock of what a return among the sales brings back, the outlet is
posted in the order the shop lived it (erpnext_pos.consolidate_in_order) before any sale is taken to
be short: a refunded tub is back on the shelf for the sales after it. Each held sale's reason ends
with what will post it (what_posts_it): a receipt of how much of which item into which warehouse, or
the next run.
"""

import math
import re
from collections import defaultdict

import frappe
from frappe import _

from scoopjoy import erpnext_pos
from scoopjoy.erpnext_pos import NOT_THE_SALES_FAULT
from scoopjoy.savepoint import Savepoint

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
	a customer's sales stay in that customer's merge logs. Once the outlet is posted in the shop's
	order, single invoices are split in posting order, and a return of a held sale is held with it.
	Bounds: at most `bound` attempts (1 + 6·⌈log2 n⌉ for n units: three bad sales anywhere are
	isolated); and when nothing has posted and the last ⌈log2 n⌉ + 4 attempts all failed with the same
	reason, the failure is taken as not depending on the sale and the outlet fails whole (an
	all-failing outlet of 20 costs 9 attempts)."""

	def __init__(self, invoices: list[dict], warehouse: str):
		self.units = sales_with_their_returns(invoices)
		self.invoices, self.sold = invoices, None  # see sold_names
		self.warehouse = warehouse
		self.held_before = held_before(invoices)
		self.in_order = False  # posting in the shop's order (see attempt)
		self.short_reasons = set()  # ERPNext's reasons that were a want of stock
		depth = math.ceil(math.log2(len(self.units))) if len(self.units) > 1 else 0
		self.bound = 1 + 6 * depth
		self.give_up_after = depth + SAME_REASON_SLACK
		self.attempts, self.failures_in_a_row, self.last_reason = 0, 0, None
		self.consolidations, self.posted, self.held = [], [], []

	def run(self):
		if self.units:
			self.isolate(self.units, known_bad=None)
		what_posts_it(self.held, self.invoices, self.warehouse, self.short_reasons)

	def isolate(self, units: list[list[dict]], known_bad: str | None):
		"""Post `units` or hold their bad sales. `known_bad`: the reason they failed with, when that
		is known already (tried, or their sibling half posted, so the parent's failure is theirs)."""
		if self.in_order:
			returning_held = self.returns_of_held(units)
			if returning_held:  # they post with their sales: not tried, and what remains is tried anew
				self.hold([[r] for r in returning_held], _("The sale it returns is held."))
				units = [u for u in ([i for i in unit if i not in returning_held] for unit in units) if u]
				known_bad = None
				if not units:
					return
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
			tried=False,
		)
		return True

	def attempt(self, units: list[list[dict]]) -> str | None:
		"""Consolidate the units in a savepoint of their own: None when posted, else ERPNext's reason
		(and nothing of the attempt is left)."""
		self.attempts += 1
		invoices = [invoice for unit in units for invoice in unit]
		savepoint = Savepoint()
		consolidate = erpnext_pos.consolidate_in_order if self.in_order else erpnext_pos.consolidate_all
		try:
			consolidations = consolidate(invoices, self.held_before)
		except NOT_THE_SALES_FAULT:
			raise
		except frappe.ValidationError as e:
			savepoint.rollback()
			reason = erpnext_pos.readable(str(e)) or type(e).__name__
			if self.order_may_help(e, reason, invoices):
				self.in_order = True  # from here on, for every attempt of the outlet
				return self.attempt(units)
			reason = self.failed(reason)
			if isinstance(e, erpnext_pos.SHORT_OF_STOCK):
				self.short_reasons.add(reason)
			return reason
		savepoint.drop_messages()
		self.failures_in_a_row = 0
		self.consolidations += consolidations
		self.posted += [invoice.pos_invoice for invoice in invoices]
		return None

	def order_may_help(self, error: Exception, reason: str, invoices: list[dict]) -> bool:
		"""ERPNext refused for want of stock of what a return among the sales brings back: its merge
		log posts returns after the sales, so the shop may have had the stock all along (see
		consolidate_in_order). A shortage of anything else is left to ERPNext's own grouping, so the
		rest posts as a cashier's closing would post it."""
		returns = [invoice for invoice in invoices if invoice.is_return]
		if self.in_order or not returns or not isinstance(error, erpnext_pos.SHORT_OF_STOCK):
			return False
		return any(
			name in reason
			for invoice in returns
			for name in self.sold_names()[invoice.pos_invoice] - {invoice.pos_invoice, invoice.customer}
		)

	def sold_names(self) -> dict[str, set[str]]:
		if self.sold is None:  # read on the first refusal: a clean outlet needs none
			self.sold = what_they_sell(self.invoices)
		return self.sold

	def returns_of_held(self, units: list[list[dict]]) -> list[dict]:
		held = {sale["pos_invoice"] for sale in self.held}
		return [i for unit in units for i in unit if i.is_return and i.return_against in held]

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
		if self.in_order:  # one invoice per unit, in posting order: every half posts after the one before
			units = [
				[invoice]
				for invoice in sorted((i for unit in units for i in unit), key=erpnext_pos.posting_order)
			]
		sold = self.sold_names()
		suspects = [
			unit
			for unit in units
			if any(name and name in reason for invoice in unit for name in sold[invoice.pos_invoice])
		]
		if 0 < len(suspects) < len(units):
			return [unit for unit in units if unit not in suspects], suspects
		return units[: len(units) // 2], units[len(units) // 2 :]

	def hold(self, units: list[list[dict]], reason: str, tried: bool = True):
		self.held += [
			{
				"pos_invoice": invoice.pos_invoice,
				"reason": reason,
				"tried": tried,
			}
			for unit in units
			for invoice in unit
		]


def what_posts_it(held: list[dict], invoices: list[dict], warehouse: str, short_reasons: set[str]):
	"""End each held sale's reason with what will post it, the words Desk, the run's log, the bench
	command and the health report show: a return, its sale; a want of stock, a receipt of what the
	outlet's held sales lack now (per item, or batch, in the warehouse), or, when the warehouse holds
	it now (the stock came back after the sale's time), the next run, which dates it then.
	`short_reasons`: ERPNext's reasons that were a want of stock."""
	if not held:
		return
	returns = {i.pos_invoice: i.return_against for i in invoices if i.is_return}
	held_names = {sale["pos_invoice"] for sale in held}
	short = [
		s["pos_invoice"] for s in held if s["reason"] in short_reasons and s["pos_invoice"] not in returns
	]
	needed = erpnext_pos.stock_needed(short)
	lacking = what_they_lack(needed, warehouse)
	for sale in held:
		name, tried = sale["pos_invoice"], sale.pop("tried")
		if returns.get(name) in held_names:
			note = _("It posts with its sale {0}, in the run that posts it.").format(returns[name])
		elif name in needed:
			missing = {key: lacking[key] for key in needed[name] if key in lacking}
			note = receipt_note(missing, warehouse) if missing else next_run_note(warehouse)
		elif not tried:
			note = _("The next run tries it again.")
		else:
			note = _("The stock sync posts it once the cause above is corrected.")
		sale["reason"] = f"{sale['reason']} {note} {dating_note()}"


def what_they_lack(needed: dict[str, dict[tuple, float]], warehouse: str) -> dict[tuple, float]:
	"""{(item, batch): what the held sales need of it beyond what the warehouse holds now}."""
	total = defaultdict(float)
	for need in needed.values():
		for key, qty in need.items():
			total[key] += qty
	have = erpnext_pos.on_hand(warehouse, set(total))
	return {key: qty - have[key] for key, qty in total.items() if qty - have[key] > 1e-9}


def receipt_note(missing: dict[tuple, float], warehouse: str) -> str:
	quantities = ", ".join(
		_("{0} {1} of {2}").format(f"{qty:g}", frappe.get_cached_value("Item", item, "stock_uom"), item)
		+ (" " + _("(batch {0})").format(batch) if batch else "")
		for (item, batch), qty in sorted(missing.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
	)
	return _(
		"Held for want of stock: a receipt of {0} into {1} posts it (what the outlet's held sales lack "
		"now); the receipt starts a sync of the outlet."
	).format(quantities, warehouse)


def next_run_note(warehouse: str) -> str:
	return _(
		"Held for want of stock at its sale's time: {0} holds enough now, so the next run posts it by "
		"itself, no receipt needed."
	).format(warehouse)


def dating_note() -> str:
	return _("A held sale is dated the day it posts; the POS Invoice keeps its sale date.")


def held_before(invoices: list[dict]) -> set[str]:
	"""Which of the invoices an earlier run held (doctype Held POS Sale, named after the sale)."""
	if not invoices:
		return set()
	return set(
		frappe.get_all(
			"Held POS Sale", filters={"name": ("in", list(erpnext_pos.names_of(invoices)))}, pluck="name"
		)
	)


def names_what_they_sell(reason: str, invoices: list[dict]) -> bool:
	"""Whether ERPNext's reason names a sale, what it sells or who bought it: a refusal of the sales,
	not of the setup (a POS Profile's accounting dimension, say)."""
	return any(name and name in reason for names in what_they_sell(invoices).values() for name in names)


def what_they_sell(invoices: list[dict]) -> dict[str, set[str]]:
	"""Per invoice, the names ERPNext's reasons may mention: itself, customer, item codes (a bundle's
	items too: a sundae's scoops), batches."""
	sold = {invoice.pos_invoice: {invoice.pos_invoice, invoice.customer} for invoice in invoices}
	item = frappe.qb.DocType("POS Invoice Item")
	lines = (
		frappe.qb.from_(item)
		.select(item.parent, item.item_code, item.batch_no)
		.where(item.parent.isin(list(sold) or [""]))
		.run()
	)
	packed = defaultdict(set)
	for bundle, part in frappe.get_all(
		"Product Bundle Item",
		filters={"parent": ("in", list({line[1] for line in lines}) or [""]), "parenttype": "Product Bundle"},
		fields=["parent", "item_code"],
		as_list=True,
	):
		packed[bundle].add(part)
	for parent, item_code, batch_no in lines:
		sold[parent].update(n for n in (item_code, batch_no) if n)
		sold[parent].update(packed.get(item_code, ()))
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
