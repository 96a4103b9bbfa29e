"""The cashier's shift closing with stock posting on: a POS Closing Entry made from the shift's POS
Opening Entry, as the closing form makes it, lists every sale of the shift (those the hourly sync
already posted included) and expects the right amounts per mode of payment; submitting consolidates
only what the sync has not, each sale once. Every document is made through ERPNext: items, stock,
a POS Profile with cash and card, POS Invoices with tax, change and a return, openings and closings."""

import pytest

frappe = pytest.importorskip("frappe", reason="Frappe tier skipped: no Frappe bench (FRAPPE_BENCH)")

from unittest import mock  # noqa: E402

from erpnext.accounts.doctype.pos_invoice_merge_log import (  # noqa: E402
	pos_invoice_merge_log as erpnext_merge_log,
)
from frappe.utils import add_to_date, flt, now_datetime  # noqa: E402

from scoopjoy import pos_closing, stock_sync  # noqa: E402
from scoopjoy.erpnext_pos import closing_sales_table as sales_table  # noqa: E402
from scoopjoy.pos_closing import LEFT_TO_SYNC, POSTED_BY_CLOSING, POSTED_BY_SYNC  # noqa: E402
from scoopjoy.scoopjoy.doctype.scoopjoy_settings.scoopjoy_settings import MARK_ONLY  # noqa: E402
from tests.integration.ledger import (  # noqa: E402
	assert_consolidated_once,
	consolidation_snapshot,
	merge_log_refs,
	stock_moved_by_sales,
)
from tests.integration.shifts import (  # noqa: E402
	LISTING,
	TAX,
	Shop,
	closing_from_opening,
	delete_cashiers,
	desk_call,
	expected,
	invoices_in,
	listed,
	merge_logs_of,
	postings,
	submit_as,
)
from tests.integration.world import (  # noqa: E402
	in_own_connection,
	rows,
	someone_sleeping_in_mariadb,
	wait_until,
)

pytestmark = pytest.mark.consolidating


@pytest.fixture
def cleanup_users(world):
	yield
	delete_cashiers(world)


# ── the tests ──────────────────────────────────────────────────────────────────────────────


def test_a_shift_the_sync_posted_twice_is_counted_whole_and_only_the_rest_consolidated(world, cleanup_users):
	shop = Shop(world)
	cashier = shop.cashier("anna")
	shift = shop.open_shift(cashier, cash=100)
	# Before the first sync: cash, card, cash with change, and a return refunded in cash.
	first = shop.sell(cashier, 2, {shop.cash: 52})  # 2 scoops: 50 + 2 tax
	by_card = shop.sell(cashier, 3, {shop.card: 78})
	shop.sell(cashier, 1, {shop.cash: 30})  # 26, with 4 change
	shop.refund(cashier, first, 1)  # -26 in cash
	world.commit()
	shop.sync()
	synced_first = list(shop.sales)
	shop.sell(cashier, 4, {shop.card: 104})
	world.commit()
	shop.sync()
	synced = list(shop.sales)
	after_last_sync = [shop.sell(cashier, 2, {shop.cash: 52}), shop.sell(cashier, 1, {shop.card: 26})]
	world.commit()
	sync_logs = {
		row.merge_log for run in world.logs() for row in frappe.get_doc("Stock Sync Log", run).consolidations
	}
	assert invoices_in(list(sync_logs)) == set(synced)  # the two syncs posted everything sold before them
	assert_consolidated_once(synced, shop.outlet.warehouse)
	assert frappe.db.get_value("POS Invoice", by_card, "status") == "Consolidated"

	# The open shift shows on the health report as one whose sales the sync posted.
	assert open_shifts_on_report(world, shop) == shift

	closing = closing_from_opening(shift)
	assert listed(closing) == shop.sales  # every sale of the shift, in posting order
	assert {s.name for s in closing.sales_listed if s.scoopjoy_posted_by_sync} == set(synced)
	# Opening 100 cash; cash 52 + (30 - 4 change) - 26 refund + 52; card 78 + 104 + 26.
	assert expected(closing) == {shop.cash: 100 + 52 + 26 - 26 + 52, shop.card: 78 + 104 + 26}
	scoops = 2 + 3 + 1 - 1 + 4 + 2 + 1
	assert (flt(closing.grand_total), flt(closing.net_total), flt(closing.total_quantity)) == (
		scoops * 26,
		scoops * 25,
		scoops,
	)
	assert [(t.account_head, flt(t.amount)) for t in closing.taxes] == [(shop.tax_account, scoops * 1.0)]
	assert [flt(t.get("rate", TAX)) for t in closing.taxes] == [TAX]  # ERPNext 16's rows carry no rate
	assert "already posted 5 of this shift's 7 sales" in closing.custom_stock_posting_note

	closing = submit_as(closing, cashier)
	assert (closing.status, closing.error_message or "") == ("Submitted", "")
	assert frappe.db.get_value("POS Opening Entry", shift, ["status", "pos_closing_entry"]) == (
		"Closed",
		closing.name,
	)
	own = merge_logs_of(closing.name)
	assert invoices_in(own) == set(after_last_sync)  # only what the sync had not posted
	assert [merge_log_refs(invoice) for invoice in shop.sales] == [1] * len(shop.sales)
	assert stock_moved_by_sales(shop.outlet.warehouse) == {shop.scoop: -scoops}
	# The closing records every merge log that holds the shift's sales, the sync's and its own.
	recorded = {(posted_by, log): sales for posted_by, log, sales, _ in postings(closing)}
	assert recorded == {
		**{(POSTED_BY_SYNC, log): len(invoices_in([log]) & set(shop.sales)) for log in sync_logs},
		**{(POSTED_BY_CLOSING, log): len(invoices_in([log])) for log in own},
	}
	assert sum(recorded.values()) == len(shop.sales)
	note = closing.custom_stock_posting_note
	assert "5 of this shift's 7 sales were posted by the ScoopJoy stock sync" in note
	assert "What the stock sync posted stays posted" in note
	assert open_shifts_on_report(world, shop) == ""  # closed

	# A later sync only marks what the closing consolidated; nothing is posted twice.
	shop.sync()
	row = rows(world.logs()[-1])[shop.outlet.name]
	assert (row.invoices_consolidated, row.invoices_flagged) == (0, len(after_last_sync))
	assert_consolidated_once(shop.sales, shop.outlet.warehouse)
	assert set(synced_first) < set(synced)


def open_shifts_on_report(world, shop) -> str:
	from scoopjoy.scoopjoy.report.outlet_sync_health.outlet_sync_health import execute

	_, report_rows, *_ = execute({"outlet_group": world.group})
	[row] = [r for r in report_rows if r.outlet == shop.outlet.name]
	return row.open_shifts_posted


def test_a_shift_the_sync_never_touched_closes_exactly_as_erpnexts_own(world, cleanup_users, stock_posting):
	"""Twin outlets, the same stock and the same sales: one closed with posting on (this app's
	closing), the other in "Mark invoices only" mode (ERPNext's own code). Everything equal."""
	twins = [Shop(world, "Twin A"), Shop(world, "Twin B")]
	cashiers = [twins[0].cashier("ben"), twins[1].cashier("cara")]  # ERPNext 16: one shift per cashier
	shifts = []
	since = now_datetime()
	for shop, cashier in zip(twins, cashiers, strict=True):
		shifts.append(shop.open_shift(cashier, cash=50))
		first = shop.sell(cashier, 2, {shop.cash: 60})
		shop.sell(cashier, 1, {shop.card: 26})
		shop.refund(cashier, first, 1)
	world.commit()

	results = []
	for shop, shift, cashier, mode in zip(twins, shifts, cashiers, (stock_posting, MARK_ONLY), strict=True):
		frappe.db.set_single_value("ScoopJoy Settings", "stock_posting", mode)
		frappe.db.commit()
		closing = submit_as(closing_from_opening(shift), cashier)
		results.append(
			(
				[
					(r.pos_invoice in shop.sales, flt(r.grand_total))
					for r in closing.get(sales_table(closing))
				],
				{
					k.replace(shop.cash, "cash").replace(shop.card, "card"): v
					for k, v in expected(closing).items()
				},
				(flt(closing.grand_total), flt(closing.net_total), flt(closing.total_quantity)),
				[(t.account_head, flt(t.get("rate")), flt(t.amount)) for t in closing.taxes],
				closing.status,
				frappe.db.get_value("POS Opening Entry", shift, "status"),
				closing.custom_stock_posting_note,
				closing.custom_stock_postings,
				len(merge_logs_of(closing.name)),
				consolidation_snapshot(shop.sales, shop.outlet.warehouse, since, cashier),
			)
		)
	assert results[0] == results[1]
	assert results[0][4:6] == ("Submitted", "Closed") and results[0][6:8] == (None, [])
	for shop in twins:
		assert [merge_log_refs(invoice) for invoice in shop.sales] == [1] * len(shop.sales)

	# In "Mark invoices only" mode the listing is ERPNext's own, call for call.
	args = dict(start=str(add_to_date(now_datetime(), hours=-1)), end=str(now_datetime()))
	args.update(pos_profile=twins[1].till_for(cashiers[1]), user=cashiers[1])
	frappe.set_user(cashiers[1])
	assert desk_call(LISTING, **args) == frappe.get_attr(LISTING)(**args)
	frappe.set_user("Administrator")


def test_two_cashiers_shifts_at_one_outlet_each_count_their_own_sales(world, cleanup_users):
	shop = Shop(world)
	anna, ben = shop.cashier("anna"), shop.cashier("ben")
	shifts = {anna: shop.open_shift(anna, cash=100), ben: shop.open_shift(ben, cash=40)}
	sales = {anna: [shop.sell(anna, 1, {shop.cash: 26})], ben: [shop.sell(ben, 2, {shop.card: 52})]}
	world.commit()
	shop.sync()  # one merge log for the outlet's walk-in customer holds both cashiers' sales
	sales[anna].append(shop.sell(anna, 3, {shop.card: 78}))
	sales[ben].append(shop.sell(ben, 1, {shop.cash: 26}))
	world.commit()

	[sync_log] = {row.merge_log for row in frappe.get_doc("Stock Sync Log", world.logs()[-1]).consolidations}
	for cashier, other in ((anna, ben), (ben, anna)):
		closing = closing_from_opening(shifts[cashier])
		assert listed(closing) == sales[cashier]
		assert not set(listed(closing)) & set(sales[other])
		closing = submit_as(closing, cashier)
		assert closing.status == "Submitted"
		assert invoices_in(merge_logs_of(closing.name)) == {sales[cashier][1]}
		assert (POSTED_BY_SYNC, sync_log, 1, None) in postings(closing)  # its own sale in the shared log
	assert expected(frappe.get_doc("POS Closing Entry", closing.name)) == {shop.cash: 40 + 26, shop.card: 52}
	shop.sync()  # marks what the closings consolidated, posts nothing
	assert_consolidated_once(shop.sales, shop.outlet.warehouse)
	for cashier in (anna, ben):
		assert frappe.db.get_value("POS Opening Entry", shifts[cashier], "status") == "Closed"


def test_cancelling_the_closing_reverses_only_what_it_consolidated(world, cleanup_users):
	shop = Shop(world)
	cashier = shop.cashier("anna")
	shift = shop.open_shift(cashier)
	by_sync = [shop.sell(cashier, 2, {shop.cash: 52})]
	world.commit()
	shop.sync()
	by_closing = [shop.sell(cashier, 3, {shop.card: 78})]
	world.commit()
	closing = submit_as(closing_from_opening(shift), cashier)
	[own] = merge_logs_of(closing.name)
	[sync_log] = [log for posted_by, log, _, _ in postings(closing) if posted_by == POSTED_BY_SYNC]

	closing.cancel()
	frappe.db.commit()  # as the request would
	closing.reload()
	assert closing.status == "Cancelled"
	# ERPNext's cancel for what the closing consolidated: merge log and Sales Invoice cancelled, the
	# sale unconsolidated again, its stock back; the shift reopened.
	assert frappe.db.get_value("POS Invoice Merge Log", own, "docstatus") == 2
	assert frappe.db.get_value("POS Invoice", by_closing[0], "consolidated_invoice") is None
	assert merge_log_refs(by_closing[0]) == 0
	assert frappe.db.get_value("POS Opening Entry", shift, ["status", "pos_closing_entry"]) == ("Open", None)
	# What the sync posted stays posted: that stock has left the warehouse.
	assert frappe.db.get_value("POS Invoice Merge Log", sync_log, "docstatus") == 1
	assert_consolidated_once(by_sync, shop.outlet.warehouse)
	assert stock_moved_by_sales(shop.outlet.warehouse) == {shop.scoop: -2}
	assert "Cancelled: the merge logs this closing made were cancelled" in closing.custom_stock_posting_note

	# The next sync posts the sale again; a new closing of the reopened shift counts both once.
	shop.sync()
	assert_consolidated_once(shop.sales, shop.outlet.warehouse)
	again = submit_as(closing_from_opening(shift), cashier)
	assert (again.status, listed(again), merge_logs_of(again.name)) == ("Submitted", shop.sales, [])
	assert expected(again) == {shop.cash: 100 + 52, shop.card: 78}
	assert_consolidated_once(shop.sales, shop.outlet.warehouse)


def test_a_sale_erpnext_refuses_is_counted_left_to_the_sync_and_the_closing_does_not_fail(
	world, cleanup_users
):
	shop = Shop(world, stock=6)
	cashier = shop.cashier("anna")
	shift = shop.open_shift(cashier)
	regular = world.make_customer("Regular")
	shop.sell(cashier, 2, {shop.cash: 52})
	world.commit()
	shop.sync()
	fine = shop.sell(cashier, 1, {shop.card: 26})
	short = shop.sell(cashier, 3, {shop.cash: 78}, customer=regular)
	world.move_stock(shop.outlet.warehouse, {shop.scoop: 2}, "Material Issue")  # 4 - 2: short of 3
	world.commit()
	shop.sync()  # the sync posts the fine sale and holds the short one (ERPNext: "needed in")
	row = rows(world.logs()[-1])[shop.outlet.name]
	assert (row.result, row.invoices_consolidated, row.invoices_held) == ("Synced", 1, 1)

	closing = closing_from_opening(shift)
	assert listed(closing) == shop.sales
	assert expected(closing) == {shop.cash: 100 + 52 + 78, shop.card: 26}  # the short sale's cash counts
	closing = submit_as(closing, cashier)
	assert (closing.status, closing.error_message or "") == ("Submitted", "")
	assert frappe.db.get_value("POS Opening Entry", shift, "status") == "Closed"
	assert (
		invoices_in(merge_logs_of(closing.name)) == set() and merge_log_refs(fine) == 1
	)  # the sync posted it
	assert_consolidated_once([s for s in shop.sales if s != short], shop.outlet.warehouse)
	[left] = [r for r in closing.custom_stock_postings if r.posted_by == LEFT_TO_SYNC]
	assert left.pos_invoice == short and "needed in" in left.reason and "<" not in left.reason
	assert "1 sales were left to the stock sync" in closing.custom_stock_posting_note
	assert merge_log_refs(short) == 0

	# Once stock arrives the sync posts it, exactly once.
	world.move_stock(shop.outlet.warehouse, {shop.scoop: 10}, "Material Receipt")
	world.commit()
	shop.sync()
	assert_consolidated_once(shop.sales, shop.outlet.warehouse)


def test_the_sync_holding_the_sales_while_the_closing_submits_consolidates_them_once(world, cleanup_users):
	"""The sync has consolidated the shift's sales and sleeps before its outlet commits (a trigger);
	the cashier submits the closing meanwhile: it waits for the sync's locks, then finds the sales
	posted by the sync, consolidates nothing and closes the shift."""
	shop = Shop(world)
	cashier = shop.cashier("anna")
	shift = shop.open_shift(cashier)
	shop.sell(cashier, 1, {shop.cash: 26})
	shop.sell(cashier, 2, {shop.card: 52})
	world.commit()
	closing = closing_from_opening(shift)  # drafted before the sync: nothing posted yet
	assert closing.custom_stock_posting_note is None
	world.commit()
	world.pause_on("AFTER INSERT", "tabStock Sync Log Outlet", f"NEW.outlet = '{shop.outlet.name}'", 3)

	sync = in_own_connection(lambda: stock_sync.process_stock_sync(world.group))
	wait_until(someone_sleeping_in_mariadb, timeout=60)
	closing = submit_as(closing, cashier)
	sync.join(timeout=60)
	frappe.db.rollback()
	assert sync.error is None, sync.error
	closing.reload()
	assert (closing.status, merge_logs_of(closing.name)) == ("Submitted", [])
	assert {p[0] for p in postings(closing)} == {POSTED_BY_SYNC}
	assert rows(world.logs()[-1])[shop.outlet.name].invoices_consolidated == 2
	assert_consolidated_once(shop.sales, shop.outlet.warehouse)


def test_the_closing_holding_the_sales_while_the_sync_runs_consolidates_them_once(world, cleanup_users):
	"""The closing is consolidating (paused half-way, holding the sales): the sync waits for it, then
	only marks them."""
	shop = Shop(world)
	cashier = shop.cashier("anna")
	shift = shop.open_shift(cashier)
	shop.sell(cashier, 1, {shop.cash: 26})
	last = shop.sell(cashier, 2, {shop.card: 52})
	world.commit()
	closing = closing_from_opening(shift)
	world.commit()
	world.pause_on(
		"BEFORE UPDATE",
		"tabPOS Invoice",
		f"@scoopjoy_hold_closing = 1 AND NEW.name = '{last}' AND NEW.consolidated_invoice IS NOT NULL",
		3,
	)

	def cashier_submits():
		frappe.db.sql("SET @scoopjoy_hold_closing = 1")  # only this connection's closing sleeps
		frappe.set_user(cashier)
		frappe.get_doc("POS Closing Entry", closing.name).submit()

	submitting = in_own_connection(cashier_submits)
	wait_until(someone_sleeping_in_mariadb, timeout=60)
	stock_sync.process_stock_sync(world.group)  # waits for the closing's locks, then reads its result
	submitting.join(timeout=60)
	frappe.db.rollback()
	assert submitting.error is None, submitting.error
	row = rows(world.logs()[-1])[shop.outlet.name]
	assert (row.result, row.invoices_consolidated, row.invoices_flagged) == ("Synced", 0, 2)
	assert invoices_in(merge_logs_of(closing.name)) == set(shop.sales)
	assert frappe.db.get_value("POS Closing Entry", closing.name, "status") == "Submitted"
	assert_consolidated_once(shop.sales, shop.outlet.warehouse)


def test_a_sale_counted_by_one_closing_cannot_be_counted_by_another(world, cleanup_users):
	shop = Shop(world)
	cashier = shop.cashier("anna")
	shift = shop.open_shift(cashier)
	shop.sell(cashier, 1, {shop.cash: 26})
	world.commit()
	shop.sync()
	closing = closing_from_opening(shift)
	duplicate = frappe.copy_doc(closing)
	closing = submit_as(closing, cashier)
	# A second shift of the same cashier over the same period lists nothing the first one counted.
	second = shop.open_shift(cashier)
	frappe.db.set_value("POS Opening Entry", second, "period_start_date", closing.period_start_date)
	world.commit()
	assert listed(closing_from_opening(second)) == []
	frappe.db.rollback()
	# And a closing that lists it anyway is refused, with nothing changed.
	duplicate.pos_opening_entry = second
	with pytest.raises(frappe.ValidationError, match="already counted by POS Closing Entry"):
		duplicate.insert()
	frappe.db.rollback()
	assert_consolidated_once(shop.sales, shop.outlet.warehouse)


def test_ten_sales_after_the_last_sync_are_consolidated_in_erpnexts_background_job(world, cleanup_users):
	"""ERPNext consolidates a closing of 10 or more invoices in a background job (status Queued first);
	here only the sales still to consolidate count, and the job re-reads them when it runs."""
	shop = Shop(world)
	cashier = shop.cashier("anna")
	shift = shop.open_shift(cashier)
	shop.sell(cashier, 1, {shop.cash: 26})
	world.commit()
	shop.sync()
	later = [shop.sell(cashier, 1, {shop.card: 26}) for _ in range(10)]
	world.commit()
	closing = closing_from_opening(shift)
	statuses = []
	original = erpnext_merge_log.enqueue

	def enqueue(method, **kwargs):  # the job runs inline in tests (ERPNext's now=in_test); see it queued
		statuses.append((method, frappe.db.get_value("POS Closing Entry", closing.name, "status"), kwargs))
		return original(method, **kwargs)

	with mock.patch.object(erpnext_merge_log, "enqueue", enqueue):  # what ERPNext's enqueue_job calls
		closing = submit_as(closing, cashier)
	[(method, status, kwargs)] = statuses
	assert (method, status) == (pos_closing.consolidate_shift, "Queued")
	# ERPNext's own job: its id, queue and event
	assert (kwargs["job_id"], kwargs["queue"], kwargs["event"]) == (
		f"pos_invoice_merge::{closing.name}",
		"long",
		"processing_merge_logs",
	)
	assert closing.status == "Submitted"
	assert invoices_in(merge_logs_of(closing.name)) == set(later)
	shop.sync()
	assert_consolidated_once(shop.sales, shop.outlet.warehouse)
