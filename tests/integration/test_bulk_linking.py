"""The sync links a merge log's POS Invoices in bulk instead of ERPNext's save per invoice: it must
leave exactly what ERPNext's own path leaves, and step aside when something listens to those saves."""

from unittest import mock

import pytest

frappe = pytest.importorskip("frappe", reason="Frappe tier skipped: no Frappe bench (FRAPPE_BENCH)")

from frappe.utils import now_datetime  # noqa: E402

from scoopjoy import erpnext_pos, stock_sync  # noqa: E402
from tests.integration.ledger import assert_consolidated_once, consolidation_snapshot  # noqa: E402

pytestmark = pytest.mark.consolidating


def identical_outlet(world, label: str, scoop: str, cone: str, regular: str, other: str):
	"""An outlet of its own group with the same stock and the same sales, in the same order, as every
	other outlet this makes: two customers, two items, a return."""
	group = world.make_group(f"-{label}")
	outlet = world.make_stocked_outlet(label, {scoop: 40, cone: 40}, group=group)
	outlet.group = group
	outlet.invoices = [
		world.sell(outlet, {scoop: 2, cone: 1}, regular),
		world.sell(outlet, {scoop: 3}, other),
		world.sell(outlet, {cone: 4}, regular),
		world.sell(outlet, {scoop: 1, cone: 2}, other),
	]
	outlet.invoices.append(world.return_of(outlet.invoices[0], 1))
	return outlet


def test_bulk_linking_leaves_exactly_what_erpnexts_own_path_leaves(world):
	scoop, cone = world.make_item("SCOOP"), world.make_item("CONE")
	regular, other = world.make_customer("Regular"), world.make_customer("Other")
	erpnexts = identical_outlet(world, "ERPNext", scoop, cone, regular, other)
	ours = identical_outlet(world, "Bulk", scoop, cone, regular, other)
	world.commit()
	since = now_datetime()

	with mock.patch.object(erpnext_pos, "reasons_to_link_one_by_one", return_value=["test: ERPNext's path"]):
		stock_sync.process_stock_sync(erpnexts.group)
	linked_in_bulk = mock.Mock(wraps=erpnext_pos.link_pos_invoices_in_bulk)
	with mock.patch.object(erpnext_pos, "link_pos_invoices_in_bulk", linked_in_bulk):
		stock_sync.process_stock_sync(ours.group)
	frappe.db.rollback()
	assert linked_in_bulk.call_count == 2  # one merge log per customer

	for outlet in (erpnexts, ours):
		assert_consolidated_once(outlet.invoices, outlet.warehouse)
	theirs = consolidation_snapshot(erpnexts.invoices, erpnexts.warehouse, since)
	mine = consolidation_snapshot(ours.invoices, ours.warehouse, since)
	assert len(theirs["merge_logs"]) == 2 and len(theirs["vouchers"]) == 3  # a credit note for the return
	for outlet in (erpnexts, ours):  # the audit trail: who consolidated each invoice, and when
		for invoice in outlet.invoices:
			modified, by = frappe.db.get_value("POS Invoice", invoice, ["modified", "modified_by"])
			assert modified >= since and by == "Administrator"
	for part in ("invoices", "merge_logs", "vouchers", "bins"):
		assert mine[part] == theirs[part], part


def test_something_listening_to_pos_invoice_saves_keeps_erpnexts_own_path(world):
	"""A Notification on POS Invoice must see every invoice's save, as ERPNext's path gives it."""
	notification = frappe.get_doc(
		{
			"doctype": "Notification",
			"name": f"{world.tag} consolidated",
			"subject": "POS Invoice {{ doc.name }} consolidated",
			"document_type": "POS Invoice",
			"event": "Value Change",
			"value_changed": "consolidated_invoice",
			"channel": "System Notification",
			"recipients": [{"receiver_by_role": "Stock Manager"}],
		}
	).insert()
	world.commit()
	try:
		assert erpnext_pos.reasons_to_link_one_by_one() == ["a Notification on POS Invoice"]
		scoop = world.make_item("SCOOP")
		outlet = world.make_stocked_outlet("Listened", {scoop: 10})
		outlet.invoices = [world.sell(outlet, {scoop: 1}), world.sell(outlet, {scoop: 2})]
		world.commit()
		linked_in_bulk = mock.Mock(wraps=erpnext_pos.link_pos_invoices_in_bulk)
		with mock.patch.object(erpnext_pos, "link_pos_invoices_in_bulk", linked_in_bulk):
			stock_sync.process_stock_sync(world.group)
		frappe.db.rollback()
		assert linked_in_bulk.call_count == 0
		assert_consolidated_once(outlet.invoices, outlet.warehouse)
		for invoice in outlet.invoices:  # the Notification saw each invoice's save
			assert frappe.db.exists(
				"Notification Log", {"document_type": "POS Invoice", "document_name": invoice}
			)
	finally:
		frappe.db.rollback()
		frappe.db.delete("Notification Log", {"document_name": ("in", world.sold or [""])})
		frappe.delete_doc("Notification", notification.name, force=True)
		frappe.db.commit()


def test_another_apps_hook_or_class_override_on_pos_invoice_keeps_erpnexts_own_path():
	assert erpnext_pos.reasons_to_link_one_by_one() == []  # this site: Frappe's and ERPNext's own only
	hooks = frappe.get_doc_hooks()
	with mock.patch.object(
		frappe,
		"get_doc_hooks",
		return_value={**hooks, "POS Invoice": {"on_update_after_submit": ["other.app.hook"]}},
	):
		assert erpnext_pos.reasons_to_link_one_by_one() == ["doc_events hook other.app.hook"]
	with mock.patch.object(
		frappe,
		"get_doc_hooks",
		return_value={**hooks, "*": {**hooks["*"], "on_change": ["audit.app.everything"]}},
	):
		assert erpnext_pos.reasons_to_link_one_by_one() == ["doc_events hook audit.app.everything"]
	original = frappe.get_hooks

	def with_override(hook=None, default=None, app_name=None):
		if hook == "override_doctype_class":
			return {"POS Invoice": ["other.app.CustomPOSInvoice"]}
		return original(hook, default, app_name)

	with mock.patch.object(frappe, "get_hooks", with_override):
		assert erpnext_pos.reasons_to_link_one_by_one() == ["a class override of POS Invoice"]


def test_bulk_written_copies_consolidate_exactly_like_the_erpnext_made_invoices_they_copy(world):
	"""The 10,000-invoice benchmark writes POS Invoices in bulk, as copies of invoices made through
	ERPNext (scoopjoy.pos_factories.copy_sales): an outlet of copies posts what an outlet of the originals posts."""
	from scoopjoy import pos_factories

	scoop, cone = world.make_item("SCOOP"), world.make_item("CONE")
	regular, other = world.make_customer("Regular"), world.make_customer("Other")
	made = world.make_stocked_outlet("Made", {scoop: 40, cone: 40}, group=world.make_group("-made"))
	made.invoices = [
		world.sell(made, {scoop: 2, cone: 1}, regular),
		world.sell(made, {scoop: 3}, other),
		world.sell(made, {cone: 4}, regular),
	]
	copied = world.make_stocked_outlet("Copied", {scoop: 40, cone: 40}, group=world.make_group("-copied"))
	prefix = f"SJCOPY{world.tag}"  # not the world's own prefix: consolidated copies stay, as the originals do
	assert pos_factories.copy_sales(made.invoices, [(copied.warehouse, copied.pos_profile)], 3, prefix) == 3
	copied.invoices = [f"{prefix}-00000-{j:04d}" for j in range(3)]
	world.commit()

	place = {"name", "set_warehouse", "pos_profile", "creation", "modified", "warehouse", "parent"}
	place |= {"posting_date", "posting_time"}  # sold now: see copy_sales
	for original, copy in zip(made.invoices, copied.invoices, strict=True):
		a, b = (frappe.get_all("POS Invoice", filters={"name": n}, fields=["*"])[0] for n in (original, copy))
		assert {k: v for k, v in a.items() if k not in place} == {
			k: v for k, v in b.items() if k not in place
		}
		assert (b.set_warehouse, b.pos_profile) == (copied.warehouse, copied.pos_profile)
		for table in ("POS Invoice Item", "Sales Invoice Payment"):
			rows_a, rows_b = (
				frappe.get_all(table, filters={"parent": n}, fields=["*"], order_by="idx asc")
				for n in (original, copy)
			)
			assert len(rows_a) == len(rows_b) > 0
			for row_a, row_b in zip(rows_a, rows_b, strict=True):
				assert {k: v for k, v in row_a.items() if k not in place} == {
					k: v for k, v in row_b.items() if k not in place
				}
				assert row_b.get("warehouse") in (None, copied.warehouse)

	since = now_datetime()
	stock_sync.process_stock_sync(made.group)
	stock_sync.process_stock_sync(copied.group)
	frappe.db.rollback()
	assert_consolidated_once(copied.invoices, copied.warehouse)
	originals = consolidation_snapshot(made.invoices, made.warehouse, since)
	copies = consolidation_snapshot(copied.invoices, copied.warehouse, since)
	for part in ("invoices", "merge_logs", "vouchers", "bins"):
		assert copies[part] == originals[part], part
