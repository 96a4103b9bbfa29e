"""Factories of a real ScoopJoy world, made through ERPNext: stocked outlet warehouses, a POS Profile per
outlet, POS Invoices inserted and submitted as a POS terminal submits them, returns, a cashier's POS
closing; and bulk-written copies of ERPNext-made documents for benchmark-sized worlds.

Every document goes through ERPNext's own validations (the copies copy such documents), so what the sync
consolidates is what a site's POS terminals produce. The demo data, the tests and the benchmarks use
them; shipped in the app because the benchmarks run on a site (bench execute). ERPNext is reached
through scoopjoy.erpnext_pos only.
"""

from contextlib import contextmanager

import frappe
from frappe.utils import add_days, get_datetime, getdate, now_datetime

from scoopjoy import erpnext_pos


def default_company() -> str:
	return (
		frappe.db.get_single_value("Global Defaults", "default_company")
		or frappe.get_all("Company", pluck="name", limit=1)[0]
	)


def leaf(doctype: str) -> str:
	"""The first non-group record of a tree (Item Group, Customer Group, Territory)."""
	return frappe.get_all(doctype, filters={"is_group": 0}, pluck="name", order_by="lft", limit=1)[0]


def cash_mode_of_payment(company: str) -> str:
	"""ERPNext's "Cash" mode of payment, with the company's cash account set on it."""
	cash = frappe.get_all("Mode of Payment", filters={"type": "Cash"}, pluck="name", limit=1)[0]
	mop = frappe.get_doc("Mode of Payment", cash)
	if not any(row.company == company for row in mop.accounts):
		account = frappe.get_cached_value("Company", company, "default_cash_account")
		mop.append("accounts", {"company": company, "default_account": account})
		mop.save()
	return cash


def bank_account(company: str) -> str:
	"""Where card payments settle: the company's bank account, made under its Bank group when it has
	none (a new company has only the group)."""
	existing = frappe.get_cached_value("Company", company, "default_bank_account") or frappe.db.get_value(
		"Account", {"company": company, "account_type": "Bank", "is_group": 0}
	)
	if existing:
		return existing
	group = frappe.db.get_value("Account", {"company": company, "account_type": "Bank", "is_group": 1})
	return (
		frappe.get_doc(
			{
				"doctype": "Account",
				"account_name": "Card Settlements",
				"company": company,
				"parent_account": group,
				"account_type": "Bank",
			}
		)
		.insert(ignore_permissions=True)
		.name
	)


def make_item(item_code: str, valuation_rate: float = 2.0) -> str:
	if not frappe.db.exists("Item", item_code):
		frappe.get_doc(
			{
				"doctype": "Item",
				"item_code": item_code,
				"item_group": leaf("Item Group"),
				"stock_uom": "Nos",
				"is_stock_item": 1,
				"valuation_rate": valuation_rate,
			}
		).insert()
	return item_code


def make_customer(customer_name: str, territory: str | None = None) -> str:
	if not frappe.db.exists("Customer", customer_name):
		frappe.get_doc(
			{
				"doctype": "Customer",
				"customer_name": customer_name,
				"customer_group": leaf("Customer Group"),
				"territory": territory or leaf("Territory"),
			}
		).insert()
	return customer_name


def make_pos_profile(name: str, company: str, warehouse: str, customer: str) -> str:
	"""One POS Profile per outlet: its warehouse is where the outlet's POS Invoices take stock from."""
	values = frappe.get_cached_value(
		"Company", company, ["default_currency", "write_off_account", "cost_center"], as_dict=True
	)
	return (
		frappe.get_doc(
			{
				"doctype": "POS Profile",
				"name": name,
				"company": company,
				"warehouse": warehouse,
				"customer": customer,
				"currency": values.default_currency,
				"write_off_account": values.write_off_account,
				"write_off_cost_center": values.cost_center,
				"update_stock": 1,
				"payments": [{"mode_of_payment": cash_mode_of_payment(company), "default": 1}],
			}
		)
		.insert()
		.name
	)


def move_stock(company: str, stock: dict[tuple[str, str], float], purpose: str, rate: float = 2.0) -> str:
	"""One Material Receipt (into) or Material Issue (out of) warehouses: {(item, warehouse): qty}."""
	field = "t_warehouse" if purpose == "Material Receipt" else "s_warehouse"
	# ERPNext keeps its warehouse → account map for the whole process: a warehouse made after it was
	# built would be "not linked to any account".
	frappe.flags.pop("warehouse_account_map", None)
	entry = frappe.get_doc(
		{
			"doctype": "Stock Entry",
			"stock_entry_type": purpose,
			"company": company,
			"items": [
				{"item_code": item, "qty": qty, field: warehouse, "basic_rate": rate}
				for (item, warehouse), qty in stock.items()
			],
		}
	)
	entry.insert()
	entry.submit()
	return entry.name


def open_shift(company: str, pos_profile: str, user: str | None = None, start=None) -> str:
	"""A cashier's POS Opening Entry: the shift a POS terminal sells in. Since ERPNext 15.99 a POS
	Invoice cannot be submitted without an open one of its POS Profile."""
	opening = frappe.get_doc(
		{
			"doctype": "POS Opening Entry",
			"pos_profile": pos_profile,
			"company": company,
			"user": user or frappe.session.user,
			"period_start_date": start or now_datetime(),
			"balance_details": [{"mode_of_payment": cash_mode_of_payment(company), "opening_amount": 0}],
		}
	)
	opening.insert()
	opening.submit()
	return opening.name


def ensure_shift(company: str, pos_profile: str, user: str | None = None) -> str:
	"""The shift a sale of the POS Profile goes into (every sale needs one since ERPNext 15.99), opened
	now when there is none. ERPNext 15: the user's own shift of the profile. ERPNext 16 allows one open
	shift per POS Profile and one per cashier and refuses sales in a shift opened on an earlier day: the
	profile's shift, whoever opened it; one from an earlier day is closed first; and a user who already
	runs another POS leaves the new shift to a free demo cashier (see free_cashier)."""
	user = user or frappe.session.user
	filters = {"pos_profile": pos_profile, "status": "Open", "docstatus": 1}
	if not erpnext_pos.offers().one_open_shift_per_cashier:
		filters["user"] = user
	shift = frappe.db.get_value(
		"POS Opening Entry",
		filters,
		["name", "period_start_date"],
		as_dict=True,
		order_by="period_start_date desc",
	)
	if shift and getdate(shift.period_start_date) == getdate():
		return shift.name
	if shift:
		close_shift(shift.name)
	if erpnext_pos.offers().one_open_shift_per_cashier and frappe.db.exists(
		"POS Opening Entry", {"user": user, "status": "Open", "docstatus": 1}
	):
		user = free_cashier()
	return open_shift(company, pos_profile, user)


@contextmanager
def as_cashier_of(shift: str):
	"""Sales are made by the shift's cashier: the closing counts the sales its cashier made."""
	user = frappe.session.user
	frappe.set_user(frappe.db.get_value("POS Opening Entry", shift, "user"))
	try:
		yield
	finally:
		frappe.set_user(user)


CASHIER = "scoopjoy-cashier-{0:04d}@scoopjoy.example"
CASHIER_ROLES = ("Accounts User", "Sales User", "Sales Manager", "Stock User")  # Sales Manager: closes shifts


def drop_open_shifts(profiles: list[str]):
	"""Deletes the open shifts of these (test or benchmark) POS Profiles, whose sales are done: ERPNext 16
	gives a cashier one open shift, so one left open would keep its cashier busy for good."""
	openings = frappe.get_all(
		"POS Opening Entry", filters={"pos_profile": ("in", profiles or [""]), "status": "Open"}, pluck="name"
	)
	frappe.db.delete("POS Opening Entry Detail", {"parent": ("in", openings or [""])})
	frappe.db.delete("POS Opening Entry", {"name": ("in", openings or [""])})


def free_cashier() -> str:
	"""A demo cashier with no open shift (ERPNext 16: one open shift per cashier), made when every one
	is busy. Reused, not one per POS Profile: Frappe refuses more than 60 new users an hour."""
	busy = set(frappe.get_all("POS Opening Entry", filters={"status": "Open", "docstatus": 1}, pluck="user"))
	cashiers = frappe.get_all(
		"User",
		filters={"name": ("like", CASHIER.format(0).replace("0000", "%"))},
		pluck="name",
		order_by="name",
	)
	free = next((cashier for cashier in cashiers if cashier not in busy), None)
	if not free:
		number = len(cashiers) + 1
		while frappe.db.exists("User", CASHIER.format(number)):
			number += 1
		free = (
			frappe.get_doc(
				{
					"doctype": "User",
					"email": CASHIER.format(number),
					"first_name": "Cashier",
					"send_welcome_email": 0,
				}
			)
			.insert(ignore_permissions=True)
			.name
		)
	missing = set(CASHIER_ROLES) - set(frappe.get_roles(free))
	if missing:
		frappe.get_doc("User", free).add_roles(*sorted(missing))
	return free


def close_shift(opening: str) -> str:
	"""Close a shift with ERPNext's own closing of its opening entry (the sales its listing finds)."""
	closing = erpnext_pos.make_closing_entry_from_opening(frappe.get_doc("POS Opening Entry", opening))
	closing.insert(ignore_permissions=True)
	closing.submit()
	return closing.name


def sell(company: str, pos_profile: str, customer: str, lines: dict[str, float], rate: float = 3.5) -> str:
	"""A POS Invoice made the way a POS terminal makes one, in the user's shift: profile, customer,
	items, cash payment, by the shift's cashier."""
	shift = ensure_shift(company, pos_profile)
	invoice = frappe.get_doc(
		{
			"doctype": "POS Invoice",
			"company": company,
			"pos_profile": pos_profile,
			"customer": customer,
			"update_stock": 1,
			"items": [{"item_code": item, "qty": qty, "rate": rate} for item, qty in lines.items()],
			"payments": [
				{"mode_of_payment": cash_mode_of_payment(company), "amount": rate * sum(lines.values())}
			],
		}
	)
	return submitted_by_cashier_of(shift, invoice)


def submitted_by_cashier_of(shift: str, invoice) -> str:
	"""Insert and submit a sale as the shift's cashier (ERPNext checks the seller has the shift open)."""
	with as_cashier_of(shift):
		invoice.insert()
		invoice.submit()
	return invoice.name


def sell_as_sales_invoice(
	company: str, pos_profile: str, customer: str, lines: dict[str, float], rate: float = 3.5
) -> str:
	"""A sale as ERPNext 16's POS page makes it in POS Settings' "Sales Invoice" mode: a Sales Invoice
	created using POS, updating stock (it posts its stock and GL at once), paid in cash, in the shift."""
	shift = ensure_shift(company, pos_profile)
	warehouse = frappe.db.get_value("POS Profile", pos_profile, "warehouse")
	invoice = frappe.get_doc(
		{
			"doctype": "Sales Invoice",
			"company": company,
			"pos_profile": pos_profile,
			"is_pos": 1,
			"is_created_using_pos": 1,
			"update_stock": 1,
			"customer": customer,
			"set_warehouse": warehouse,
			"items": [
				{"item_code": item, "qty": qty, "rate": rate, "warehouse": warehouse}
				for item, qty in lines.items()
			],
			"payments": [
				{"mode_of_payment": cash_mode_of_payment(company), "amount": rate * sum(lines.values())}
			],
		}
	)
	return submitted_by_cashier_of(shift, invoice)


def copy_sales(templates: list[str], outlets: list[tuple[str, str]], per_outlet: int, prefix: str) -> int:
	"""Bulk-write POS Invoices for many outlets as copies of POS Invoices made through ERPNext: every
	column of the invoice and of its child rows (items, payments, taxes), with new names and the
	outlet's warehouse and POS Profile. Submitting a POS Invoice writes only these rows (its stock and
	GL wait for consolidation), so a copy is what ERPNext would have made for the same sale there.
	The copies are sold now: the templates' posting times moved forward together, keeping their order
	(ERPNext 15.99 and later date consolidated invoices by their sales, so a copy dated at its
	template's time would sell before the outlet's stock arrived).
	`outlets`: (warehouse, pos_profile); invoice j of an outlet copies templates[j % len(templates)].
	Named `{prefix}-{outlet:05d}-{j:04d}`; returns how many were written."""
	now = frappe.utils.now()
	invoices = {t: frappe.get_all("POS Invoice", filters={"name": t}, fields=["*"])[0] for t in templates}
	if any(invoice.is_return for invoice in invoices.values()):
		raise ValueError("a return's copy would point at the template's original invoice")
	sold_at = {t: get_datetime(f"{i.posting_date} {i.posting_time}") for t, i in invoices.items()}
	shift = now_datetime() - min(sold_at.values())
	for t, invoice in invoices.items():
		at = sold_at[t] + shift
		invoice.posting_date, invoice.posting_time = at.date(), at.strftime("%H:%M:%S.%f")
	tables = [df.options for df in frappe.get_meta("POS Invoice").get_table_fields()]
	children = {
		(table, t): frappe.get_all(table, filters={"parent": t, "parenttype": "POS Invoice"}, fields=["*"])
		for table in tables
		for t in templates
	}
	written = 0
	for index, (warehouse, profile) in enumerate(outlets):
		copies = {f"{prefix}-{index:05d}-{j:04d}": templates[j % len(templates)] for j in range(per_outlet)}
		place = {"set_warehouse": warehouse, "pos_profile": profile, "creation": now, "modified": now}
		insert_rows("POS Invoice", [{**invoices[t], **place, "name": n} for n, t in copies.items()])
		for table in tables:
			insert_rows(
				table,
				[
					{**row, **({"warehouse": warehouse} if "warehouse" in row else {})}
					| {"name": frappe.generate_hash(length=10), "parent": n, "creation": now, "modified": now}
					for n, t in copies.items()
					for row in children[(table, t)]
				],
			)
		written += len(copies)
	return written


def copy_documents(doctype: str, template: str, changes: list[dict]):
	"""Bulk-write copies of a saved document and its child rows, one per dict of changed fields (each
	with its new `name`); child rows take the new parent. For benchmark-sized masters only: no
	validation runs, so `template` must be a document ERPNext made."""
	now = frappe.utils.now()
	row = frappe.get_all(doctype, filters={"name": template}, fields=["*"])[0]
	insert_rows(doctype, [{**row, "creation": now, "modified": now, **change} for change in changes])
	for df in frappe.get_meta(doctype).get_table_fields():
		children = frappe.get_all(
			df.options, filters={"parent": template, "parenttype": doctype}, fields=["*"]
		)
		insert_rows(
			df.options,
			[
				{**child, "name": frappe.generate_hash(length=10), "parent": change["name"], "creation": now}
				for change in changes
				for child in children
			],
		)


def insert_rows(doctype: str, rows: list[dict]):
	if rows:
		fields = list(rows[0])
		frappe.db.bulk_insert(doctype, fields, [tuple(row[f] for f in fields) for row in rows])


def return_of(invoice: str, qty: float) -> str:
	"""A POS return of `qty` of the invoice's first item, made by ERPNext's own mapper."""
	credit = erpnext_pos.make_sales_return(invoice)
	shift = ensure_shift(credit.company, credit.pos_profile)
	credit.items = credit.items[:1]
	credit.items[0].qty = -qty
	credit.calculate_taxes_and_totals()
	for i, payment in enumerate(credit.payments):  # refunded in the first mode of payment
		payment.amount = credit.grand_total if i == 0 else 0
	credit.paid_amount = credit.base_paid_amount = credit.grand_total  # as the till sets it
	with as_cashier_of(shift):
		credit.insert()
		credit.submit()
	return credit.name


def close_pos_shift(company: str, pos_profile: str, invoices: list[str]) -> str:
	"""What a cashier does at the end of a shift: a POS Closing Entry of the profile's shift over the
	invoices; ERPNext consolidates them (and commits) when the closing is submitted."""
	cash = cash_mode_of_payment(company)
	opening = frappe.get_doc("POS Opening Entry", ensure_shift(company, pos_profile))
	fields = ["name as pos_invoice", "posting_date", "grand_total", "customer", "is_return", "return_against"]
	closing = frappe.get_doc(
		{
			"doctype": "POS Closing Entry",
			"pos_opening_entry": opening.name,
			"pos_profile": pos_profile,
			"company": company,
			"user": opening.user,
			"period_start_date": min(
				[opening.period_start_date, add_days(now_datetime(), -1)], key=get_datetime
			),
			"period_end_date": now_datetime(),
			"payment_reconciliation": [{"mode_of_payment": cash, "opening_amount": 0, "expected_amount": 0}],
		}
	)
	closing.set(
		erpnext_pos.closing_sales_table(closing),
		frappe.get_all(
			"POS Invoice",
			filters={"name": ("in", invoices)},
			fields=fields,
			order_by="posting_date, posting_time, name",  # as the closing form lists them
		),
	)
	closing.insert()
	closing.submit()
	return closing.name


def available(item: str, warehouse: str) -> float:
	"""On hand, less what unconsolidated POS Invoices already sold (ERPNext's "reserved for POS")."""
	on_hand = frappe.db.get_value("Bin", {"item_code": item, "warehouse": warehouse}, "actual_qty") or 0
	return on_hand - erpnext_pos.get_pos_reserved_qty(item, warehouse)
