"""ERPNext 16's POS Settings "Sales Invoice" mode: the POS makes each sale a Sales Invoice that posts its
stock and GL at once. The app stays out of the way: a run finishes cleanly, posts nothing and says why;
the cashier's closing is ERPNext's own, listing and closing included."""

import pytest

frappe = pytest.importorskip("frappe", reason="Frappe tier skipped: no Frappe bench (FRAPPE_BENCH)")

from frappe.utils import flt  # noqa: E402

from scoopjoy import erpnext_pos, pos_factories, stock_sync  # noqa: E402
from scoopjoy.scoopjoy.doctype.stock_sync_log.stock_sync_log import sales_invoice_mode_note  # noqa: E402
from tests.integration.shifts import LISTING, closing_from_opening, desk_call, submit_as  # noqa: E402

RATE = 4.0


@pytest.fixture
def sales_invoice_mode():
	if not erpnext_pos.offers().has_sales_invoice_mode:
		pytest.skip(
			"not applicable: this ERPNext has no Sales Invoice mode (POS Settings.invoice_type, ERPNext 16)"
		)
	before = frappe.db.get_single_value("POS Settings", "invoice_type")
	frappe.db.set_single_value("POS Settings", "invoice_type", "Sales Invoice")
	frappe.db.commit()
	yield
	frappe.db.rollback()
	frappe.db.set_single_value("POS Settings", "invoice_type", before)
	frappe.db.commit()


def test_a_run_posts_nothing_says_why_and_the_closing_stays_erpnexts(world, sales_invoice_mode):
	scoop = world.make_item("SCOOP")
	outlet = world.make_stocked_outlet("SalesInvoiceMode", {scoop: 10})
	shift = pos_factories.ensure_shift(world.company, outlet.pos_profile)
	cashier = frappe.db.get_value("POS Opening Entry", shift, "user")
	customer = frappe.db.get_value("POS Profile", outlet.pos_profile, "customer")
	sales = [
		pos_factories.sell_as_sales_invoice(world.company, outlet.pos_profile, customer, {scoop: qty}, RATE)
		for qty in (2, 1)
	]
	world.sold += sales
	world.commit()
	ledger = {
		sale: frappe.db.count("Stock Ledger Entry", {"voucher_no": sale, "is_cancelled": 0}) for sale in sales
	}
	assert ledger == dict.fromkeys(sales, 1)  # ERPNext posted each sale at once

	stock_sync.process_stock_sync(world.group)
	frappe.db.rollback()
	[run] = world.logs()
	log = frappe.get_doc("Stock Sync Log", run)
	assert (log.status, log.succeeded, log.failed, log.invoices_consolidated) == ("Completed", 1, 0, 0)
	assert sales_invoice_mode_note() in log.summary
	assert frappe.db.count("Stock Sync Log Consolidation", {"parent": run}) == 0
	assert {
		sale: frappe.db.count("Stock Ledger Entry", {"voucher_no": sale, "is_cancelled": 0}) for sale in sales
	} == ledger  # nothing posted twice

	# The closing form's listing is ERPNext's, unchanged, and its closing is ERPNext's.
	period = frappe.db.get_value("POS Opening Entry", shift, "period_start_date")
	args = dict(
		start=str(period), end=str(frappe.utils.now_datetime()), pos_profile=outlet.pos_profile, user=cashier
	)
	ours = desk_call(LISTING, **args)
	erpnexts = frappe.get_attr(LISTING)(**args)
	assert ours == erpnexts
	assert sorted(row.name for row in ours["invoices"]) == sorted(sales)

	# Out of test mode: ERPNext's closing, in tests, consolidates every unconsolidated POS Invoice of the
	# site when its own list is empty (consolidate_pos_invoices); a cashier's closing never does.
	frappe.in_test = frappe.flags.in_test = False
	try:
		closing = submit_as(closing_from_opening(shift), cashier)
	finally:
		frappe.in_test = frappe.flags.in_test = True
	assert closing.status == "Submitted"
	assert [row.sales_invoice for row in closing.sales_invoices] == sales
	assert closing.pos_invoices == []
	assert flt(closing.grand_total) == 3 * RATE
	assert not closing.get("custom_stock_postings") and not closing.get("custom_stock_posting_note")
	assert {frappe.db.get_value("Sales Invoice", sale, "pos_closing_entry") for sale in sales} == {
		closing.name
	}
	assert frappe.db.get_value("POS Opening Entry", shift, "status") == "Closed"


def test_the_health_report_names_the_pos_mode_and_what_each_costs(sales_invoice_mode):
	from scoopjoy.scoopjoy.report.outlet_sync_health.outlet_sync_health import (
		POS_INVOICE_MODE_DAY,
		SALES_INVOICE_MODE_DAY,
		execute,
	)

	message = execute({})[2]
	assert "Sales Invoices, which post at once" in message
	assert f"{SALES_INVOICE_MODE_DAY[0]} Sales Invoices" in message
	frappe.db.set_single_value("POS Settings", "invoice_type", "POS Invoice")
	message = execute({})[2]
	assert "The POS sells POS Invoices" in message
	assert any(
		f"{day[0]} Sales Invoices, {day[1]} GL Entries" in message for day in POS_INVOICE_MODE_DAY.values()
	)
