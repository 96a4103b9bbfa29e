"""A shop that works in POS shifts, for the closing tests: an outlet whose POS Profile takes cash and
card, cashiers who sell through ERPNext in their own sessions, and the closing made from the shift's
opening the way the closing form makes it."""

import frappe
from frappe.utils import add_to_date, flt, now_datetime

from scoopjoy import erpnext_pos, pos_factories, stock_sync
from scoopjoy.erpnext_pos import closing_sales_table as sales_table

# The closing form's listing: ERPNext 15's list of POS Invoices, or 16's {"invoices", "payments", "taxes"}.
LISTS_ON_SERVER = erpnext_pos.offers().closing_lists_on_server
LISTING = "erpnext.accounts.doctype.pos_closing_entry.pos_closing_entry." + (
	"get_invoices" if LISTS_ON_SERVER else "get_pos_invoices"
)
RATE, TAX = 25.0, 4.0  # a scoop costs 25 + 4 % tax: 26.00
CASHIER_ROLES = ("System Manager", "Accounts Manager", "Sales Manager", "Stock Manager")


class Shop:
	"""One outlet of the world with a POS Profile that takes cash and card, a tax account and
	cashiers; sales are POS Invoices made through ERPNext by the cashier's own session."""

	def __init__(self, world, label="Shift", stock=100):
		self.world = world
		self.company = world.company
		self.scoop = world.make_item("SCOOP")
		self.outlet = world.make_stocked_outlet(label, {self.scoop: stock})
		self.cash = pos_factories.cash_mode_of_payment(self.company)
		self.card = card_mode_of_payment(self.company)
		self.tax_account = frappe.get_all(
			"Account", filters={"company": self.company, "account_type": "Tax", "is_group": 0}, pluck="name"
		)[0]
		self.customer = frappe.db.get_value("POS Profile", self.outlet.pos_profile, "customer")
		self.tills = [self.takes_cash_and_card(self.outlet.pos_profile)]
		self.till_of = {}
		self.sales = []

	def takes_cash_and_card(self, pos_profile: str) -> str:
		profile = frappe.get_doc("POS Profile", pos_profile)
		profile.append("payments", {"mode_of_payment": self.card})
		profile.disable_rounded_total = 1  # the expected amounts are the exact totals
		profile.save()
		return profile.name

	def till_for(self, cashier: str) -> str:
		"""The POS Profile the cashier's shift sells through. ERPNext 15: the outlet's one profile, for
		every cashier. ERPNext 16 opens one shift per profile at a time: each cashier of the outlet has
		a till of their own (a POS Profile on the outlet's warehouse)."""
		if cashier in self.till_of:
			return self.till_of[cashier]
		taken = set(self.till_of.values())
		free = (
			[till for till in self.tills if till not in taken]
			if erpnext_pos.offers().one_open_shift_per_cashier
			else self.tills
		)
		if not free:
			name = f"{self.outlet.pos_profile} Till {len(self.tills) + 1}"
			free = [
				self.takes_cash_and_card(
					pos_factories.make_pos_profile(name, self.company, self.outlet.warehouse, self.customer)
				)
			]
			self.tills.append(free[0])
			self.world.pos_profiles.append(free[0])
		self.till_of[cashier] = free[0]
		return free[0]

	def cashier(self, key: str) -> str:
		email = f"{self.world.tag.lower()}-{key}@scoopjoy.example"
		if not frappe.db.exists("User", email):
			user = frappe.get_doc(
				{"doctype": "User", "email": email, "first_name": key, "send_welcome_email": 0}
			).insert()
			user.add_roles(*CASHIER_ROLES)
			self.world.users = [*getattr(self.world, "users", []), email]
		return email

	def open_shift(self, cashier: str, cash: float = 100.0) -> str:
		opening = frappe.get_doc(
			{
				"doctype": "POS Opening Entry",
				"pos_profile": self.till_for(cashier),
				"company": self.company,
				"user": cashier,
				"period_start_date": add_to_date(now_datetime(), minutes=-1),
				"balance_details": [
					{"mode_of_payment": self.cash, "opening_amount": cash},
					{"mode_of_payment": self.card, "opening_amount": 0},
				],
			}
		)
		opening.insert()
		opening.submit()
		return opening.name

	def sell(self, cashier: str, scoops: float, paid: dict, customer: str | None = None) -> str:
		"""A sale of `scoops` at 25 + 4 % tax, paid {mode: amount}; cash over the total is change."""
		frappe.set_user(cashier)
		try:
			invoice = frappe.get_doc(
				{
					"doctype": "POS Invoice",
					"company": self.company,
					"pos_profile": self.till_for(cashier),
					"customer": customer or self.customer,
					"update_stock": 1,
					"items": [{"item_code": self.scoop, "qty": scoops, "rate": RATE}],
					"taxes": [
						{
							"charge_type": "On Net Total",
							"account_head": self.tax_account,
							"rate": TAX,
							"description": "Sales tax",
						}
					],
					"payments": [
						{"mode_of_payment": mode, "amount": amount} for mode, amount in paid.items()
					],
				}
			)
			invoice.insert()
			invoice.submit()
		finally:
			frappe.set_user("Administrator")
		self.sales.append(invoice.name)
		self.world.sold.append(invoice.name)
		return invoice.name

	def refund(self, cashier: str, invoice: str, scoops: float) -> str:
		"""A return of some scoops of a sale, refunded in cash, through ERPNext's mapper."""
		from erpnext.accounts.doctype.pos_invoice.pos_invoice import make_sales_return

		frappe.set_user(cashier)
		try:
			credit = make_sales_return(invoice)
			credit.items[0].qty = -scoops
			credit.payments = [p for p in credit.payments if p.mode_of_payment == self.cash]
			credit.payments[0].amount = -scoops * RATE * (1 + TAX / 100)
			credit.paid_amount = credit.base_paid_amount = credit.payments[0].amount  # as the till sets it
			credit.insert()
			credit.submit()
		finally:
			frappe.set_user("Administrator")
		self.sales.append(credit.name)
		self.world.sold.append(credit.name)
		return credit.name

	def sync(self):
		stock_sync.process_stock_sync(self.world.group)
		frappe.db.rollback()


def card_mode_of_payment(company: str) -> str:
	mop = frappe.get_doc("Mode of Payment", "Credit Card")
	if not any(row.company == company for row in mop.accounts):
		mop.append("accounts", {"company": company, "default_account": pos_factories.bank_account(company)})
		mop.save()
	return mop.name


def desk_call(cmd: str, **kwargs):
	"""A whitelisted method as the closing form calls it: through override_whitelisted_methods."""
	for hook in reversed(frappe.get_hooks("override_whitelisted_methods", {}).get(cmd, [])):
		cmd = hook
		break
	return frappe.call(frappe.get_attr(cmd), **kwargs)


def closing_from_opening(opening_name: str, as_user: str | None = None):
	"""What the POS Closing Entry form does when a cashier picks the shift's opening (in Desk, or from
	the POS page's "Close the POS"): the opening amounts, then every sale the listing returns, totalled
	(pos_closing_entry.js: set_opening_amounts, get_pos_invoices, set_form_data, refresh_payments with
	the change given back in cash). Inserted as the cashier; not submitted."""
	opening = frappe.get_doc("POS Opening Entry", opening_name)
	closing = frappe.new_doc("POS Closing Entry")
	closing.update(
		{
			"pos_opening_entry": opening.name,
			"period_start_date": opening.period_start_date,
			"period_end_date": now_datetime(),
			"pos_profile": opening.pos_profile,
			"user": opening.user,
			"company": opening.company,
		}
	)
	payments = {}
	for detail in opening.balance_details:
		payments[detail.mode_of_payment] = frappe._dict(
			mode_of_payment=detail.mode_of_payment,
			opening_amount=detail.opening_amount,
			expected_amount=detail.opening_amount,
		)
	frappe.set_user(as_user or opening.user)
	try:
		listing = desk_call(
			LISTING,
			start=str(closing.period_start_date),
			end=str(closing.period_end_date),
			pos_profile=closing.pos_profile,
			user=closing.user,
		)
		fill = fill_as_the_form_16 if LISTS_ON_SERVER else fill_as_the_form_15
		sales = fill(closing, listing, payments)
		for row in payments.values():
			row.closing_amount = row.expected_amount  # the cashier's count matches
		closing.set("payment_reconciliation", list(payments.values()))
		closing.insert()
	finally:
		frappe.set_user("Administrator")
	closing.sales_listed = sales
	return closing


def fill_as_the_form_15(closing, sales: list, payments: dict) -> list:
	"""ERPNext 15's pos_closing_entry.js: each sale's row, totals, taxes and payments summed in the form
	(the change given back in cash)."""
	taxes = {}
	for sale in sales:
		closing.append(
			"pos_transactions",
			{
				"pos_invoice": sale.name,
				"posting_date": sale.posting_date,
				"grand_total": sale.grand_total,
				"customer": sale.customer,
			},
		)
		add_totals(closing, sale)
		for tax in sale.taxes:
			key = (tax.account_head, tax.rate)
			taxes[key] = taxes.get(key, 0) + flt(tax.tax_amount)
		for payment in sale.payments:
			amount = flt(payment.amount)
			if payment.account == sale.account_for_change_amount:
				amount -= flt(sale.change_amount)
			expect(payments, payment.mode_of_payment, amount)
	closing.set(
		"taxes",
		[
			{"account_head": account, "rate": rate, "amount": amount}
			for (account, rate), amount in taxes.items()
		],
	)
	return sales


def fill_as_the_form_16(closing, listing: dict, payments: dict) -> list:
	"""ERPNext 16's pos_closing_entry.js: rows in pos_invoices or sales_invoices, totals, and the
	payments and taxes the server totalled."""
	for sale in listing["invoices"]:
		closing.append(
			"pos_invoices" if sale.doctype == "POS Invoice" else "sales_invoices",
			{
				("pos_invoice" if sale.doctype == "POS Invoice" else "sales_invoice"): sale.name,
				"posting_date": sale.posting_date,
				"grand_total": sale.grand_total,
				"customer": sale.customer,
				"is_return": sale.is_return,
				"return_against": sale.return_against,
			},
		)
		add_totals(closing, sale)
		closing.total_taxes_and_charges = flt(closing.total_taxes_and_charges) + flt(
			sale.total_taxes_and_charges
		)
	for payment in listing["payments"]:
		expect(payments, payment.mode_of_payment, flt(payment.amount))
	closing.set("taxes", [{"account_head": t.account_head, "amount": t.tax_amount} for t in listing["taxes"]])
	return listing["invoices"]


def add_totals(closing, sale):
	closing.grand_total = flt(closing.grand_total) + flt(sale.grand_total)
	closing.net_total = flt(closing.net_total) + flt(sale.net_total)
	closing.total_quantity = flt(closing.total_quantity) + flt(sale.total_qty)


def expect(payments: dict, mode: str, amount: float):
	row = payments.setdefault(mode, frappe._dict(mode_of_payment=mode, opening_amount=0, expected_amount=0))
	row.expected_amount += amount


def submit_as(closing, user: str):
	frappe.set_user(user)
	try:
		closing.submit()
		frappe.db.commit()  # as the request would
	finally:
		frappe.set_user("Administrator")
	return frappe.get_doc("POS Closing Entry", closing.name)


def expected(closing) -> dict:
	return {row.mode_of_payment: flt(row.expected_amount, 2) for row in closing.payment_reconciliation}


def listed(closing) -> list[str]:
	return [row.pos_invoice for row in closing.get(sales_table(closing))]


def merge_logs_of(closing_name: str) -> list[str]:
	return frappe.get_all(
		"POS Invoice Merge Log", filters={"pos_closing_entry": closing_name, "docstatus": 1}, pluck="name"
	)


def invoices_in(merge_logs: list[str]) -> set[str]:
	return set(
		frappe.get_all(
			"POS Invoice Reference",
			filters={"parent": ("in", merge_logs or [""]), "parenttype": "POS Invoice Merge Log"},
			pluck="pos_invoice",
		)
	)


def postings(closing) -> list[tuple]:
	return [(r.posted_by, r.merge_log, r.sales, r.pos_invoice) for r in closing.custom_stock_postings]


def delete_cashiers(world):
	frappe.db.rollback()
	for email in getattr(world, "users", []):
		frappe.delete_doc("User", email, force=True)
	frappe.db.commit()
