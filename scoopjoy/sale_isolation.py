"""Isolating the bad sales of an outlet: ERPNext validates a whole merge log at once, so one sale it
refuses (not enough stock, a disabled item, a batch no longer there) fails every sale of its outlet.

The outlet's sales are split in posting order and the halves retried, each attempt in its own
savepoint: k bad sales among n cost about 2·k·log2(n) attempts, and everything else is posted in the
same run. A failure that does not depend on the sale (erpnext_pos.NOT_THE_SALES_FAULT: an accounting
dimension, a frozen stock period, a closed fiscal year; or a deadlock or lock wait) is not split: it
fails the outlet whole.
"""

import math
import re

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
			consolidations = erpnext_pos.consolidate_all(invoices, self.held_before)
		except NOT_THE_SALES_FAULT:
			raise
		except frappe.ValidationError as e:
			savepoint.rollback()
			return self.failed(erpnext_pos.readable(str(e)) or type(e).__name__)
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
		frappe.get_all(
			"Held POS Sale", filters={"name": ("in", list(erpnext_pos.names_of(invoices)))}, pluck="name"
		)
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
