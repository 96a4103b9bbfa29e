"""A real ScoopJoy world made through ERPNext: stocked outlet warehouses, a POS Profile per outlet,
POS Invoices inserted and submitted as a POS terminal submits them, returns, a cashier's POS closing.

Every document goes through ERPNext's own validations (nothing is written by hand), so what the sync
consolidates is what a site's POS terminals produce. The tests, the posting benchmark and the demo
data use these functions.
"""

import frappe
from frappe.utils import add_days, now_datetime


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


def sell(company: str, pos_profile: str, customer: str, lines: dict[str, float], rate: float = 3.5) -> str:
	"""A POS Invoice made the way a POS terminal makes one: profile, customer, items, cash payment."""
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
	invoice.insert()
	invoice.submit()
	return invoice.name


def return_of(invoice: str, qty: float) -> str:
	"""A POS return of `qty` of the invoice's first item, made by ERPNext's own mapper."""
	from erpnext.accounts.doctype.pos_invoice.pos_invoice import make_sales_return

	credit = make_sales_return(invoice)
	credit.items = credit.items[:1]
	credit.items[0].qty = -qty
	credit.payments[0].amount = credit.items[0].rate * -qty
	credit.insert()
	credit.submit()
	return credit.name


def close_pos_shift(company: str, pos_profile: str, invoices: list[str]) -> str:
	"""What a cashier does at the end of a shift: a POS Opening Entry, then a POS Closing Entry over
	the invoices; ERPNext consolidates them (and commits) when the closing is submitted."""
	cash = cash_mode_of_payment(company)
	opening = frappe.get_doc(
		{
			"doctype": "POS Opening Entry",
			"pos_profile": pos_profile,
			"company": company,
			"user": frappe.session.user,
			"period_start_date": add_days(now_datetime(), -1),
			"balance_details": [{"mode_of_payment": cash, "opening_amount": 0}],
		}
	)
	opening.insert()
	opening.submit()
	fields = ["name as pos_invoice", "posting_date", "grand_total", "customer"]
	closing = frappe.get_doc(
		{
			"doctype": "POS Closing Entry",
			"pos_opening_entry": opening.name,
			"pos_profile": pos_profile,
			"company": company,
			"user": frappe.session.user,
			"period_start_date": opening.period_start_date,
			"period_end_date": now_datetime(),
			"pos_transactions": frappe.get_all(
				"POS Invoice", filters={"name": ("in", invoices)}, fields=fields
			),
			"payment_reconciliation": [{"mode_of_payment": cash, "opening_amount": 0, "expected_amount": 0}],
		}
	)
	closing.insert()
	closing.submit()
	return closing.name
