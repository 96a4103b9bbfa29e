"""What changed under the app between ERPNext 15 releases, on the ERPNext this bench runs: since 15.99
returns get one credit note per original Sales Invoice (`update_pos_invoices` takes {credit note:
[POS Invoices]}), merge logs are split by accounting dimensions and carry a company, and consolidated
invoices are dated by their sales. The sync follows whichever the running ERPNext does, and records
every document it made. Every claim is counted per invoice, against ERPNext's own closing."""

import pytest

frappe = pytest.importorskip("frappe", reason="Frappe tier skipped: no Frappe bench (FRAPPE_BENCH)")

from erpnext.accounts.doctype.pos_invoice_merge_log.pos_invoice_merge_log import (  # noqa: E402
	POSInvoiceMergeLog,
)

from scoopjoy import erpnext_pos, stock_sync  # noqa: E402
from scoopjoy.erpnext_pos import link_pos_invoices_in_bulk, link_targets  # noqa: E402
from tests.integration.ledger import assert_consolidated_once, merge_log_refs  # noqa: E402
from tests.integration.test_held_sales_mixture import digest  # noqa: E402

pytestmark = pytest.mark.consolidating

# What this ERPNext does with returns: one credit note per original Sales Invoice (15.99 and later).
CREDIT_NOTE_PER_ORIGINAL = erpnext_pos.offers().credit_note_per_original


def refund_day(world, label: str, scoop: str, group: str) -> frappe._dict:
	"""Sale, sale, a refund of the first, sale: one cashier's day."""
	outlet = world.make_stocked_outlet(label, {scoop: 20}, group=group)
	outlet.group = group
	first = world.sell(outlet, {scoop: 3})
	outlet.invoices = [first, world.sell(outlet, {scoop: 2})]
	outlet.invoices.append(world.return_of(first, 1))
	outlet.invoices.append(world.sell(outlet, {scoop: 4}))
	return outlet


def run_rows(run: str) -> list[frappe._dict]:
	return frappe.get_all(
		"Stock Sync Log Consolidation",
		filters={"parent": run},
		fields=["merge_log", "sales_invoice", "credit_note", "invoices", "stock_qty"],
	)


def documents_recorded(rows: list[dict]) -> set[str]:
	return {d for row in rows for d in (row.sales_invoice, row.credit_note) if d}


def test_the_refund_day_posts_what_erpnexts_closing_posts_and_records_every_document(world):
	scoop = world.make_item("SCOOP")
	erpnexts = refund_day(world, "Refund Closing", scoop, world.make_group("-closing"))
	ours = refund_day(world, "Refund Sync", scoop, world.make_group("-sync"))
	world.commit()
	world.close_pos_shift(erpnexts, erpnexts.invoices)  # ERPNext's own path; it commits
	stock_sync.process_stock_sync(ours.group)
	frappe.db.rollback()

	assert_consolidated_once(ours.invoices, ours.warehouse)
	assert all(merge_log_refs(invoice) == 1 for invoice in erpnexts.invoices)
	theirs, mine = digest(erpnexts), digest(ours)
	for part in theirs:
		assert mine[part] == theirs[part], part

	[run] = world.logs(ours.group)
	rows = run_rows(run)
	linked = set(
		frappe.get_all("POS Invoice", filters={"name": ("in", ours.invoices)}, pluck="consolidated_invoice")
	)
	assert documents_recorded(rows) == linked
	assert sum(row.invoices for row in rows) == len(ours.invoices)
	assert sum(row.stock_qty for row in rows) == 3 + 2 - 1 + 4


def test_returns_of_sales_posted_by_earlier_runs_each_get_their_credit_note_and_all_are_recorded(world):
	"""Two sales posted by two runs (two Sales Invoices), then one return of each: ERPNext 15.99 and
	later make a credit note against each original, one before. The run lists every one, the
	closing's table too, and each return is linked to the credit note that holds it."""
	scoop = world.make_item("SCOOP")
	outlet = world.make_stocked_outlet("Late Returns", {scoop: 20})
	first = world.sell(outlet, {scoop: 3})
	world.commit()
	stock_sync.process_stock_sync(world.group)
	frappe.db.rollback()
	second = world.sell(outlet, {scoop: 2})
	world.commit()
	stock_sync.process_stock_sync(world.group)
	frappe.db.rollback()
	returns = [world.return_of(first, 1), world.return_of(second, 1)]
	world.commit()
	stock_sync.process_stock_sync(world.group)
	frappe.db.rollback()

	sales = [first, second]
	assert_consolidated_once([*sales, *returns], outlet.warehouse)
	originals = [frappe.db.get_value("POS Invoice", sale, "consolidated_invoice") for sale in sales]
	assert len(set(originals)) == 2
	notes = [frappe.db.get_value("POS Invoice", r, "consolidated_invoice") for r in returns]
	rows = run_rows(world.logs()[-1])
	assert documents_recorded(rows) == set(notes)
	assert len({row.merge_log for row in rows}) == 1
	if CREDIT_NOTE_PER_ORIGINAL:
		assert len(set(notes)) == 2
		assert [frappe.db.get_value("Sales Invoice", n, "return_against") for n in notes] == originals
	else:
		assert len(set(notes)) == 1
	for note in set(notes):  # each credit note posted once: its stock back, its GL balanced
		sle = frappe.get_all(
			"Stock Ledger Entry", filters={"voucher_no": note, "is_cancelled": 0}, pluck="actual_qty"
		)
		assert sum(sle) == notes.count(note), note
	assert sum(row.invoices for row in rows) == 2 and sum(row.stock_qty for row in rows) == -2

	# The cashier's closing of the day lists every document the sync made for its sales.
	closing = world.close_pos_shift(outlet, [*sales, *returns])
	listed = frappe.get_all(
		"Shift Stock Posting",
		filters={"parent": closing},
		fields=["posted_by", "sales_invoice", "credit_note", "sales"],
	)
	assert {d for row in listed for d in (row.sales_invoice, row.credit_note) if d} == {*originals, *notes}
	assert sum(row.sales for row in listed) == 4 and {row.posted_by for row in listed} == {"Stock Sync"}
	assert all(merge_log_refs(invoice) == 1 for invoice in [*sales, *returns])


def test_bulk_linking_reads_both_contracts_and_hands_any_other_back_to_erpnext():
	sale, ret = frappe._dict(name="S", is_return=0), frappe._dict(name="R", is_return=1)
	# Until 15.98: one credit note for every return.
	assert link_targets([sale, ret], "SINV", "CN") == {"S": "SINV", "R": "CN"}
	# Since 15.99: the credit note that lists the return (else, as ERPNext does, the sales invoice).
	assert link_targets([sale, ret], "SINV", {"CN1": ["X"], "CN2": ["R"]}) == {"S": "SINV", "R": "CN2"}
	assert link_targets([sale, ret], "SINV", {"CN1": ["X"]}) == {"S": "SINV", "R": "SINV"}
	assert link_targets([ret], "", {"CN": ["R"]}) == {"R": "CN"}
	# Anything else is ERPNext's: the unlinking on cancel, a contract not known yet.
	assert link_targets([sale]) is None
	assert link_targets([sale], "SINV", ["CN"]) is None
	assert link_targets([sale], "SINV", {"CN": "R"}) is None
	assert link_targets([sale], "SINV", "", extra=1) is None
	assert link_targets([sale], "", "") is None

	calls = []

	class MergeLog:
		pass

	original = POSInvoiceMergeLog.update_pos_invoices
	POSInvoiceMergeLog.update_pos_invoices = lambda self, *args, **kwargs: calls.append((args, kwargs))
	try:
		link_pos_invoices_in_bulk(MergeLog(), [sale])  # a cancel's call: ERPNext's own method runs
		link_pos_invoices_in_bulk(MergeLog(), [sale], "SINV", ("CN",))
	finally:
		POSInvoiceMergeLog.update_pos_invoices = original
	assert calls == [(([sale],), {}), (([sale], "SINV", ("CN",)), {})]
