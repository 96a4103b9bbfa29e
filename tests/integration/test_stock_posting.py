"""Sync Stock consolidates each outlet's POS Invoices into ERPNext's stock ledger, exactly once,
all or nothing per outlet. Every document here is made through ERPNext: items, a Material Receipt,
a POS Profile per outlet, POS Invoices inserted and submitted, returns, a cashier's POS closing."""

import pytest

frappe = pytest.importorskip("frappe", reason="Frappe tier skipped: no Frappe bench (FRAPPE_BENCH)")

from scoopjoy import stock_sync  # noqa: E402
from scoopjoy.scoopjoy.doctype.scoopjoy_settings.scoopjoy_settings import CONSOLIDATE, MARK_ONLY  # noqa: E402
from tests.integration.ledger import (  # noqa: E402
	assert_consolidated_once,
	assert_untouched,
	bin_qty,
	consolidated_vouchers,
	merge_log_refs,
)
from tests.integration.world import RealtimeRecorder, chunks_of, rows  # noqa: E402

pytestmark = pytest.mark.consolidating
# (Payment Ledger Entries are left out: ERPNext itself deletes and rewrites them while posting.)
POSTED_DOCTYPES = ("POS Invoice Merge Log", "Sales Invoice", "Stock Ledger Entry", "GL Entry")


@pytest.fixture
def shop(world):
	"""Three outlets of one group: one that sells to two customers and takes a return, one whose
	stock was taken out after its sales, one whose cashier closed the shift (ERPNext consolidated)."""
	scoop, cone = world.make_item("SCOOP"), world.make_item("CONE")
	regular = world.make_customer("Regular")

	good = world.make_stocked_outlet("Good", {scoop: 50, cone: 50})
	first = world.sell(good, {scoop: 2, cone: 1})
	good.invoices = [
		first,
		world.sell(good, {scoop: 3}),
		world.sell(good, {cone: 4}, customer=regular),
		world.return_of(first, 1),
	]

	short = world.make_stocked_outlet("Short", {scoop: 5})
	short.invoices = [world.sell(short, {scoop: 4})]
	world.move_stock(short.warehouse, {scoop: 3}, "Material Issue")  # only 2 left for 4 sold

	closed = world.make_stocked_outlet("Closed", {scoop: 10})
	closed.invoices = [world.sell(closed, {scoop: 1}), world.sell(closed, {scoop: 2})]
	world.close_pos_shift(closed, closed.invoices)  # ERPNext's closing commits
	world.commit()
	return frappe._dict(scoop=scoop, cone=cone, good=good, short=short, closed=closed)


def test_sync_posts_good_outlets_fails_short_one_whole_and_only_marks_closed_ones(world, shop):
	recorder = RealtimeRecorder()
	stock_sync.process_stock_sync(world.group)
	messages = recorder.stop()
	frappe.db.rollback()

	# The good outlet: consolidated once, its warehouse lost exactly what was sold net of the return.
	assert_consolidated_once(shop.good.invoices, shop.good.warehouse)
	assert bin_qty(shop.scoop, shop.good.warehouse) == 50 - 2 - 3 + 1
	assert bin_qty(shop.cone, shop.good.warehouse) == 50 - 1 - 4
	assert frappe.db.get_value("Sales Invoice", credit_of(shop.good), "is_return")
	assert not frappe.db.get_value("Sales Invoice", consolidated_into(shop.good.invoices[0]), "is_return")

	# The short outlet: ERPNext refused the stock; nothing of it posted, linked or marked.
	assert_untouched(shop.short.invoices, shop.short.warehouse)
	assert bin_qty(shop.scoop, shop.short.warehouse) == 2

	# The closed outlet: consolidated by the cashier's closing, only marked by the sync.
	closed_vouchers = consolidated_vouchers(shop.closed.warehouse)
	for invoice in shop.closed.invoices:
		assert merge_log_refs(invoice) == 1
		assert frappe.db.get_value("POS Invoice", invoice, "custom_stock_synced") == 1

	[run] = world.logs()
	log = frappe.get_doc("Stock Sync Log", run)
	result = rows(run)
	good, short, closed = (result[o.name] for o in (shop.good, shop.short, shop.closed))
	assert (good.result, good.invoices_consolidated, good.invoices_flagged, good.stock_qty) == (
		"Synced",
		4,
		0,
		9,
	)
	assert (closed.result, closed.invoices_consolidated, closed.invoices_flagged) == ("Synced", 0, 2)
	assert short.result == "Failed" and short.invoices_synced == 0
	assert "needed in" in short.message and "<" not in short.message, (
		short.message
	)  # ERPNext's words, as text
	assert frappe.db.exists("Error Log", {"reference_name": shop.short.name})

	assert (log.status, log.stock_posting) == ("Completed with Errors", CONSOLIDATE)
	assert (log.invoices_consolidated, log.invoices_flagged, log.invoices_synced, log.stock_qty) == (
		4,
		2,
		6,
		9,
	)
	links = {(c.outlet, c.sales_invoice, c.credit_note) for c in log.consolidations}
	assert {o for o, _, _ in links} == {shop.good.name}  # two customers: two merge logs
	assert len(links) == 2 and consolidated_vouchers(shop.good.warehouse) == {
		v for _, si, cn in links for v in (si, cn) if v
	}
	assert "4 invoices consolidated" in log.summary

	# Only this test's run: another bench's site of the same name may share Redis's channel.
	progress = [m for m in messages if m["event"] == "progress" and world.tag in m["message"]["description"]]
	assert [round(m["message"]["percent"]) for m in progress] == [33, 67, 100]
	assert {m["room"] for m in progress} == {"user:Administrator"}
	[done] = [
		m
		for m in messages
		if m["event"] == stock_sync.COMPLETE_EVENT and m["message"]["outlet_group"] == world.group
	]
	assert done["room"] == "user:Administrator"
	assert (done["message"]["invoices_consolidated"], done["message"]["consolidated_documents"]) == (4, 2)
	# Nothing of the failed outlet's rolled-back documents reached anyone: every document an event
	# names exists (the realtime messages its Sales Invoice queued were dropped with it).
	named = {
		(m["message"]["doctype"], m["message"]["name"])
		for m in messages
		if m["event"] == "list_update" and m["message"]["doctype"] in POSTED_DOCTYPES
	}
	assert ("Sales Invoice", credit_of(shop.good)) in named  # the good outlet's were sent
	assert all(frappe.db.exists(doctype, name) for doctype, name in named), named

	# A second run posts nothing new; the short outlet fails again, the same way.
	stock_sync.process_stock_sync(world.group)
	frappe.db.rollback()
	second = rows(world.logs()[-1])
	assert [second[o.name].invoices_synced for o in (shop.good, shop.closed)] == [0, 0]
	assert_consolidated_once(shop.good.invoices, shop.good.warehouse)
	assert consolidated_vouchers(shop.closed.warehouse) == closed_vouchers

	# Stock arrives; retrying the failed outlets posts the short outlet, once, and nothing else.
	world.move_stock(shop.short.warehouse, {shop.scoop: 10}, "Material Receipt")
	world.commit()
	retry = stock_sync.retry_failed_outlets(world.logs()[-1])["sync_log"]
	frappe.db.rollback()
	assert set(rows(retry)) == {shop.short.name}
	assert_consolidated_once(shop.short.invoices, shop.short.warehouse)
	assert bin_qty(shop.scoop, shop.short.warehouse) == 2 + 10 - 4
	assert_consolidated_once(shop.good.invoices, shop.good.warehouse)


def consolidated_into(invoice: str) -> str:
	return frappe.db.get_value("POS Invoice", invoice, "consolidated_invoice")


def credit_of(outlet) -> str:
	return consolidated_into(outlet.invoices[-1])  # the return is each shop's last invoice


def test_mark_only_posts_nothing_and_a_later_consolidating_run_picks_those_invoices_up(world, shop):
	frappe.db.set_single_value("ScoopJoy Settings", "stock_posting", MARK_ONLY)
	frappe.db.commit()
	stock_sync.process_stock_sync(world.group)
	frappe.db.rollback()
	for outlet in (shop.good, shop.short):
		assert consolidated_vouchers(outlet.warehouse) == set()
		for invoice in outlet.invoices:
			assert (
				merge_log_refs(invoice),
				frappe.db.get_value("POS Invoice", invoice, "custom_stock_synced"),
			) == (0, 1)
	log = frappe.get_doc("Stock Sync Log", world.logs()[-1])
	assert (log.stock_posting, log.status, log.invoices_consolidated, log.invoices_flagged) == (
		MARK_ONLY,
		"Completed",
		0,
		7,
	)

	# Switched to consolidating: invoices the mark-only run marked still hold their stock; they
	# are consolidated now, exactly once.
	frappe.db.set_single_value("ScoopJoy Settings", "stock_posting", CONSOLIDATE)
	frappe.db.commit()
	stock_sync.process_stock_sync(world.group)
	frappe.db.rollback()
	assert_consolidated_once(shop.good.invoices, shop.good.warehouse)
	assert rows(world.logs()[-1])[shop.good.name].invoices_consolidated == 4
	assert consolidated_vouchers(shop.short.warehouse) == set()  # still not enough stock


def test_posting_commits_every_outlet_on_its_own(world, site_config):
	"""A posted outlet's transaction holds ERPNext's naming-series rows and its warehouse's stock until
	it commits: with posting on, every outlet commits on its own, whatever the chunk's time limit."""
	scoop = world.make_item("SCOOP")
	outlets = [world.make_stocked_outlet(f"T{i}", {scoop: 5}) for i in range(5)]
	for outlet in outlets:
		outlet.invoices = [world.sell(outlet, {scoop: 1})]
	world.commit()
	site_config("scoopjoy_chunk_seconds", 60)

	stock_sync.process_stock_sync(world.group)
	frappe.db.rollback()
	chunks = chunks_of(world.logs()[-1])
	assert sorted(len(c) for c in chunks.values()) == [1] * 5, chunks
	for outlet in outlets:
		assert_consolidated_once(outlet.invoices, outlet.warehouse)


def test_a_site_without_a_stored_mode_consolidates():
	"""What `migrate` leaves on a site that had the app before ScoopJoy Settings existed."""
	from scoopjoy.scoopjoy.doctype.scoopjoy_settings.scoopjoy_settings import stock_posting_mode

	frappe.db.delete("Singles", {"doctype": "ScoopJoy Settings", "field": "stock_posting"})
	frappe.clear_cache(doctype="ScoopJoy Settings")
	assert stock_posting_mode() == CONSOLIDATE
	frappe.db.rollback()


def test_a_sale_to_a_customer_disabled_since_is_held_and_the_other_customers_posted(world):
	"""A customer disabled after the sales: ERPNext refuses that customer's merge log. Before sale
	isolation this failed the whole outlet; now only that customer's sale is held."""
	scoop = world.make_item("SCOOP")
	gone = world.make_customer("Gone")
	outlet = world.make_stocked_outlet("Gone", {scoop: 10})
	outlet.invoices = [world.sell(outlet, {scoop: 1}), world.sell(outlet, {scoop: 2}, customer=gone)]
	frappe.db.set_value("Customer", gone, "disabled", 1)
	world.commit()

	stock_sync.process_stock_sync(world.group)
	frappe.db.rollback()
	row = rows(world.logs()[-1])[outlet.name]
	assert (row.result, row.invoices_consolidated, row.invoices_held) == ("Synced", 1, 1)
	assert "disabled" in row.message and "<" not in row.message, row.message
	assert_consolidated_once(outlet.invoices[:1], outlet.warehouse)  # the walk-in's merge log
	assert merge_log_refs(outlet.invoices[1]) == 0
	held = frappe.get_all("Held POS Sale", filters={"outlet": outlet.name}, pluck="name")
	assert held == [outlet.invoices[1]]
	frappe.db.set_value("Customer", gone, "disabled", 0)
	frappe.db.commit()
