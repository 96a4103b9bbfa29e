"""The door to ERPNext (scoopjoy/erpnext_pos.py) on the running ERPNext: every function the app mirrors
is one reviewed against it, what it reads from ERPNext's code agrees with the site, a sync and a
cashier's closing leave Frappe and ERPNext exactly as they were, and where the app mirrors one of
ERPNext's checks, ERPNext's own runs beside it on the same data."""

import types

import pytest

frappe = pytest.importorskip("frappe", reason="Frappe tier skipped: no Frappe bench (FRAPPE_BENCH)")

from erpnext.accounts.doctype.pos_closing_entry import pos_closing_entry as erpnext_closing  # noqa: E402
from erpnext.accounts.doctype.pos_invoice import pos_invoice as erpnext_pos_invoice  # noqa: E402
from erpnext.accounts.doctype.pos_invoice_merge_log import (  # noqa: E402
	pos_invoice_merge_log as erpnext_merge_log,
)
from erpnext.accounts.doctype.sales_invoice import sales_invoice as erpnext_sales_invoice  # noqa: E402
from frappe.model import document as frappe_document  # noqa: E402
from frappe.model import mapper  # noqa: E402
from frappe.utils import background_jobs  # noqa: E402

from scoopjoy import erpnext_pos  # noqa: E402
from tests.integration.ledger import assert_consolidated_once  # noqa: E402
from tests.integration.shifts import Shop, closing_from_opening, delete_cashiers, submit_as  # noqa: E402

pytestmark = pytest.mark.consolidating


@pytest.fixture
def cleanup_users(world):
	yield
	delete_cashiers(world)


def test_every_function_the_app_mirrors_is_one_reviewed_against_it():
	"""A new ERPNext that changes one fails here, naming it: review what changed against the app's part
	(docs/how-it-works.md, "The door to ERPNext"), then add its fingerprint to erpnext_pos.REVIEWED."""
	assert erpnext_pos.unreviewed() == {}


def test_what_the_door_reads_from_erpnexts_code_agrees_with_the_site():
	offers = erpnext_pos.offers()
	assert offers.merge_log_has_company == frappe.get_meta("POS Invoice Merge Log").has_field("company")
	assert offers.has_sales_invoice_mode == frappe.get_meta("POS Settings").has_field("invoice_type")
	closing = frappe.get_meta("POS Closing Entry")
	assert closing.get_field(offers.closing_sales_table).options == "POS Invoice Reference"
	listing = "get_invoices" if offers.closing_lists_on_server else "get_pos_invoices"
	assert f"erpnext.accounts.doctype.pos_closing_entry.pos_closing_entry.{listing}" in frappe.get_hooks(
		"override_whitelisted_methods", app_name="scoopjoy"
	)
	assert erpnext_pos.offers() is offers  # once per process


def test_a_name_resolved_for_one_call_is_seen_by_that_call_only():
	seen = []

	def get_doc(*args, **kwargs):
		seen.append(args)
		return frappe.get_doc(*args, **kwargs)

	fetch = erpnext_pos.with_names(mapper.map_fetch_fields, frappe=erpnext_pos.FrappeWith(get_doc=get_doc))
	invoice = frappe.new_doc("Sales Invoice")
	invoice.company = frappe.get_all("Company", pluck="name", limit=1)[0]
	fetch(invoice, invoice.meta.get_field("company"), set())
	assert seen == [("Company", invoice.company)]
	assert mapper.map_fetch_fields.__globals__["frappe"] is frappe  # the module keeps Frappe itself
	with pytest.raises(erpnext_pos.ERPNextChanged, match="no longer uses"):
		erpnext_pos.with_names(mapper.map_fetch_fields, not_a_name_it_uses=None)


def functions_and_classes() -> dict[tuple[str, str], object]:
	"""Every function, class and module reachable as an attribute of Frappe's and ERPNext's modules and
	classes that the sync and the closing run through."""
	owners = [
		frappe,
		frappe_document,
		mapper,
		background_jobs,
		erpnext_merge_log,
		erpnext_closing,
		erpnext_pos_invoice,
		erpnext_sales_invoice,
		erpnext_merge_log.POSInvoiceMergeLog,
		erpnext_closing.POSClosingEntry,
		erpnext_pos_invoice.POSInvoice,
		erpnext_sales_invoice.SalesInvoice,
		frappe_document.Document,
	]
	return {
		(owner.__name__, name): value
		for owner in owners
		for name, value in vars(owner).items()
		if callable(value) or isinstance(value, types.ModuleType | classmethod | staticmethod)
	}


def test_a_sync_and_a_closing_in_one_process_leave_frappe_and_erpnext_as_they_were(world, cleanup_users):
	before = functions_and_classes()
	shop = Shop(world)
	cashier = shop.cashier("anna")
	shift = shop.open_shift(cashier)
	shop.sell(cashier, 2, {shop.cash: 52})
	world.commit()
	shop.sync()  # the sync's merge log: bulk linking, masters loaded once, invoices read together
	shop.sell(cashier, 1, {shop.card: 26})
	world.commit()
	closing = submit_as(closing_from_opening(shift), cashier)  # the closing's own merge log
	assert closing.status == "Submitted"
	shop.sync()  # marks what the closing consolidated
	assert_consolidated_once(shop.sales, shop.outlet.warehouse)

	after = functions_and_classes()
	changed = sorted(
		f"{owner}.{name}" for owner, name in before if after.get((owner, name)) is not before[(owner, name)]
	)
	# A submodule imported meanwhile (frappe.hooks, …) becomes an attribute of its package: not a patch.
	added = sorted(
		f"{owner}.{name}"
		for owner, name in set(after) - set(before)
		if not isinstance(after[(owner, name)], types.ModuleType)
	)
	assert (changed, added) == ([], [])


def test_the_closings_check_of_sales_the_sync_posted_is_erpnexts_own_check(world, cleanup_users):
	"""ERPNext's validate_pos_invoices stops at "already consolidated" for a sale the sync posted; the
	app runs its profile and cashier checks for such a sale (erpnext_pos.closing_mismatches). Beside it,
	ERPNext's own on the same rows made unconsolidated again (rolled back): the same errors."""
	shop = Shop(world)
	anna, ben = shop.cashier("anna"), shop.cashier("ben")
	shift = shop.open_shift(anna)
	shop.open_shift(ben)
	shop.sell(anna, 1, {shop.cash: 26})
	bens = shop.sell(ben, 1, {shop.cash: 26})  # another cashier's, on another till
	world.commit()
	shop.sync()
	closing = closing_from_opening(shift)
	table = erpnext_pos.closing_sales_table(closing)
	closing.append(table, {"pos_invoice": bens, "posting_date": frappe.utils.nowdate(), "customer": "x"})
	rows = closing.get(table)

	ours = erpnext_pos.closing_mismatches(closing, rows)
	assert ours, "ben's sale on anna's closing is refused"
	frappe.db.savepoint("erpnexts_own")
	try:
		frappe.db.set_value(
			"POS Invoice", {"name": ("in", [r.pos_invoice for r in rows])}, "consolidated_invoice", None
		)
		frappe.local.message_log = []
		with pytest.raises(frappe.ValidationError):
			erpnext_closing.POSClosingEntry.validate_pos_invoices(closing)
		theirs = frappe.parse_json(frappe.local.message_log[-1])["message"]
	finally:
		frappe.db.rollback(save_point="erpnexts_own")
		frappe.local.message_log = []
	assert ours == theirs
