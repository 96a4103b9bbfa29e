"""Builds outlets, warehouses and POS Invoices on the real site, and removes them again.

Most invoices are written in bulk (the sync only reads name, docstatus, set_warehouse and the flag);
`make_erpnext_invoice` makes one through ERPNext's own validation and submit.
"""

import json
import threading
import time

import frappe
from frappe.utils.background_jobs import get_queue, get_redis_connection_without_auth

from scoopjoy.benchmarks.stock_sync import insert_pending_invoices

TEST_PREFIX = "SJT"


def default_company() -> str:
	return (
		frappe.db.get_single_value("Global Defaults", "default_company")
		or frappe.get_all("Company", pluck="name", limit=1)[0]
	)


def clear_scoopjoy_jobs():
	for queue_type in ("long", "short"):
		queue = get_queue(queue_type)
		for job in queue.jobs:
			if "scoopjoy" in job.id:
				job.delete()


def scoopjoy_job_ids(queue_type: str) -> list[str]:
	return [job_id for job_id in get_queue(queue_type).job_ids if "scoopjoy" in job_id]


class World:
	def __init__(self):
		self.tag = f"{TEST_PREFIX}{frappe.generate_hash(length=6).upper()}"
		self.company = default_company()
		self.abbr = frappe.get_cached_value("Company", self.company, "abbr")
		self.groups, self.warehouses, self.outlets, self.triggers = [], [], [], []
		self.invoice_count = 0
		self.sold, self.stocked_warehouses = [], set()
		self.extra_logs = []  # runs of "All" this test started
		self.group = self.make_group()
		self.territory = frappe.get_all("Territory", filters={"is_group": 0}, pluck="name", limit=1)[0]

	# ── masters ──
	def make_group(self, suffix: str = "") -> str:
		name = f"{self.tag}{suffix}"
		frappe.get_doc({"doctype": "Outlet Group", "outlet_group_name": name}).insert()
		self.groups.append(name)
		return name

	def make_warehouse(self, label: str, disabled: int = 0) -> str:
		warehouse = frappe.get_doc(
			{
				"doctype": "Warehouse",
				"warehouse_name": f"{self.tag} {label}",
				"company": self.company,
				"disabled": disabled,
			}
		).insert()
		self.warehouses.append(warehouse.name)
		return warehouse.name

	def make_outlet(
		self, label: str, warehouse: str | None, group: str | None = None, status: str = "Active", submit=True
	) -> frappe._dict:
		agreement = frappe.get_doc(
			{
				"doctype": "Franchise Agreement",
				"franchise_name": f"{self.tag} {label}",
				"franchise_warehouse": warehouse,
				"territory": self.territory,
				"outlet_group": group or self.group,
				"agreement_status": status,
			}
		).insert()
		if submit:
			agreement.submit()
		self.outlets.append(agreement.name)
		return frappe._dict(name=agreement.name, franchise_name=agreement.franchise_name, warehouse=warehouse)

	# ── invoices ──
	def make_pending_invoices(self, warehouse: str, count: int, docstatus: int = 1) -> list[str]:
		names = [f"{self.tag}-{self.invoice_count + i:07d}" for i in range(count)]
		self.invoice_count += count
		insert_pending_invoices(self.company, ((name, warehouse, docstatus) for name in names))
		return names

	def make_erpnext_invoice(self, warehouse: str) -> str:
		"""A POS Invoice made the way a POS terminal makes one: profile, customer, item, payment."""
		item = self._make_once(
			"Item",
			f"{self.tag}-SCOOP",
			{
				"item_code": f"{self.tag}-SCOOP",
				"item_group": frappe.get_all("Item Group", filters={"is_group": 0}, pluck="name", limit=1)[0],
				"stock_uom": "Nos",
				"is_stock_item": 1,
				"allow_negative_stock": 1,  # the outlet sells before the opening stock is booked
			},
		)
		customer = self._make_once(
			"Customer",
			f"{self.tag} Walk-in",
			{
				"customer_name": f"{self.tag} Walk-in",
				"customer_group": frappe.get_all("Customer Group", filters={"is_group": 0}, pluck="name")[0],
				"territory": self.territory,
			},
		)
		cash = frappe.get_all("Mode of Payment", filters={"type": "Cash"}, pluck="name", limit=1)[0]
		self._ensure_mode_of_payment_account(cash)
		profile = frappe.get_doc(
			{
				"doctype": "POS Profile",
				"name": f"{self.tag} {warehouse}",
				"company": self.company,
				"warehouse": warehouse,
				"customer": customer,
				"currency": frappe.get_cached_value("Company", self.company, "default_currency"),
				"write_off_account": frappe.get_cached_value("Company", self.company, "write_off_account"),
				"write_off_cost_center": frappe.get_cached_value("Company", self.company, "cost_center"),
				"payments": [{"mode_of_payment": cash, "default": 1}],
			}
		).insert()
		self.pos_profiles = [*getattr(self, "pos_profiles", []), profile.name]
		invoice = frappe.get_doc(
			{
				"doctype": "POS Invoice",
				"company": self.company,
				"pos_profile": profile.name,
				"customer": customer,
				"items": [{"item_code": item, "qty": 2, "rate": 3.5}],
				"payments": [{"mode_of_payment": cash, "amount": 7}],
			}
		)
		invoice.insert()
		invoice.submit()
		self.erpnext_invoices = [*getattr(self, "erpnext_invoices", []), invoice.name]
		return invoice.name

	# ── a real ERPNext world: stock, POS profiles, POS Invoices made through ERPNext ──
	# Ledger documents are permanent, as in production: cleanup removes scoopjoy's records and
	# leaves the tagged warehouses, items and vouchers (a warehouse with stock cannot be deleted).
	def make_item(self, label: str, rate: float = 2.0) -> str:
		return self._make_once(
			"Item",
			f"{self.tag}-{label}",
			{
				"item_code": f"{self.tag}-{label}",
				"item_group": frappe.get_all("Item Group", filters={"is_group": 0}, pluck="name", limit=1)[0],
				"stock_uom": "Nos",
				"is_stock_item": 1,
				"valuation_rate": rate,
			},
		)

	def make_customer(self, label: str = "Walk-in") -> str:
		return self._make_once(
			"Customer",
			f"{self.tag} {label}",
			{
				"customer_name": f"{self.tag} {label}",
				"customer_group": frappe.get_all("Customer Group", filters={"is_group": 0}, pluck="name")[0],
				"territory": self.territory,
			},
		)

	def make_stocked_outlet(self, label: str, stock: dict[str, float], group: str | None = None) -> frappe._dict:
		"""An outlet with its warehouse, its POS Profile, and opening stock booked by a Material Receipt."""
		warehouse = self.make_warehouse(label)
		self.stocked_warehouses.add(warehouse)
		outlet = self.make_outlet(label, warehouse, group)
		outlet.pos_profile = self.make_pos_profile(warehouse)
		if stock:
			self.move_stock(warehouse, stock, "Material Receipt")
		return outlet

	def make_pos_profile(self, warehouse: str) -> str:
		cash = frappe.get_all("Mode of Payment", filters={"type": "Cash"}, pluck="name", limit=1)[0]
		self._ensure_mode_of_payment_account(cash)
		company = frappe.get_cached_doc("Company", self.company)
		profile = frappe.get_doc(
			{
				"doctype": "POS Profile",
				"name": f"{self.tag} {warehouse}",
				"company": self.company,
				"warehouse": warehouse,
				"customer": self.make_customer(),
				"currency": company.default_currency,
				"write_off_account": company.write_off_account,
				"write_off_cost_center": company.cost_center,
				"update_stock": 1,
				"payments": [{"mode_of_payment": cash, "default": 1}],
			}
		).insert()
		self.pos_profiles = [*getattr(self, "pos_profiles", []), profile.name]
		return profile.name

	def move_stock(self, warehouse: str, stock: dict[str, float], purpose: str) -> str:
		"""Material Receipt into, or Material Issue out of, the warehouse (ERPNext posts it at once)."""
		field = "t_warehouse" if purpose == "Material Receipt" else "s_warehouse"
		entry = frappe.get_doc(
			{
				"doctype": "Stock Entry",
				"stock_entry_type": purpose,
				"company": self.company,
				"items": [
					{"item_code": item, "qty": qty, field: warehouse, "basic_rate": 2.0}
					for item, qty in stock.items()
				],
			}
		)
		entry.insert()
		entry.submit()
		return entry.name

	def sell(
		self, outlet: dict, lines: dict[str, float], customer: str | None = None, rate: float = 3.5
	) -> str:
		"""A POS Invoice made the way a POS terminal makes one: profile, customer, items, cash payment."""
		cash = frappe.get_all("Mode of Payment", filters={"type": "Cash"}, pluck="name", limit=1)[0]
		invoice = frappe.get_doc(
			{
				"doctype": "POS Invoice",
				"company": self.company,
				"pos_profile": outlet.pos_profile,
				"customer": customer or self.make_customer(),
				"update_stock": 1,
				"items": [{"item_code": item, "qty": qty, "rate": rate} for item, qty in lines.items()],
				"payments": [{"mode_of_payment": cash, "amount": rate * sum(lines.values())}],
			}
		)
		invoice.insert()
		invoice.submit()
		self.sold.append(invoice.name)
		return invoice.name

	def return_of(self, invoice: str, qty: float) -> str:
		"""A POS return of `qty` of the invoice's first item, made by ERPNext's own mapper."""
		from erpnext.accounts.doctype.pos_invoice.pos_invoice import make_sales_return

		credit = make_sales_return(invoice)
		credit.items = credit.items[:1]
		credit.items[0].qty = -qty
		credit.payments[0].amount = credit.items[0].rate * -qty
		credit.insert()
		credit.submit()
		self.sold.append(credit.name)
		return credit.name

	def close_pos_shift(self, outlet: dict, invoices: list[str]) -> str:
		"""What a cashier does at the end of a shift: a POS Opening Entry, then a POS Closing Entry
		over the invoices; ERPNext consolidates them (and commits) when the closing is submitted."""
		opening = frappe.get_doc(
			{
				"doctype": "POS Opening Entry",
				"pos_profile": outlet.pos_profile,
				"company": self.company,
				"user": frappe.session.user,
				"period_start_date": frappe.utils.add_days(frappe.utils.now_datetime(), -1),
				"balance_details": [{"mode_of_payment": "Cash", "opening_amount": 0}],
			}
		)
		opening.insert()
		opening.submit()
		closing = frappe.get_doc(
			{
				"doctype": "POS Closing Entry",
				"pos_opening_entry": opening.name,
				"pos_profile": outlet.pos_profile,
				"company": self.company,
				"user": frappe.session.user,
				"period_start_date": opening.period_start_date,
				"period_end_date": frappe.utils.now_datetime(),
				"pos_transactions": [
					{
						"pos_invoice": name,
						"posting_date": frappe.db.get_value("POS Invoice", name, "posting_date"),
						"grand_total": frappe.db.get_value("POS Invoice", name, "grand_total"),
						"customer": frappe.db.get_value("POS Invoice", name, "customer"),
					}
					for name in invoices
				],
				"payment_reconciliation": [{"mode_of_payment": "Cash", "opening_amount": 0, "expected_amount": 0}],
			}
		)
		closing.insert()
		closing.submit()
		return closing.name

	def _make_once(self, doctype: str, name: str, values: dict) -> str:
		if not frappe.db.exists(doctype, name):
			frappe.get_doc({"doctype": doctype, **values}).insert()
		return name

	def _ensure_mode_of_payment_account(self, mode_of_payment: str):
		mop = frappe.get_doc("Mode of Payment", mode_of_payment)
		if not any(row.company == self.company for row in mop.accounts):
			cash_account = frappe.get_cached_value("Company", self.company, "default_cash_account")
			mop.append("accounts", {"company": self.company, "default_account": cash_account})
			mop.save()

	# ── faults ──
	def fail_update_of(self, invoice: str):
		"""A real database error half-way through an outlet's update: MariaDB refuses to flag this
		invoice, after the outlet's earlier pages were already flagged in the same transaction."""
		trigger = f"{self.tag.lower()}_fail_{len(self.triggers)}"
		frappe.db.commit()  # DDL commits implicitly; make that explicit
		frappe.db.sql(
			f"""CREATE TRIGGER `{trigger}` BEFORE UPDATE ON `tabPOS Invoice` FOR EACH ROW
			BEGIN
				IF NEW.name = %(invoice)s AND NEW.custom_stock_synced = 1 THEN
					SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected failure half-way through the update';
				END IF;
			END""".replace("%(invoice)s", frappe.db.escape(invoice))
		)
		self.triggers.append(trigger)

	def deadlock_on(self, invoice: str, times: int):
		"""Make flagging this invoice fail with MariaDB's deadlock error (1213) `times` times. The count
		is a session variable, which rollbacks do not reset (the run must be inline, in this session)."""
		trigger = f"{self.tag.lower()}_deadlock_{len(self.triggers)}"
		counter = f"@{trigger}"
		frappe.db.commit()  # DDL commits implicitly; make that explicit
		frappe.db.sql(
			f"""CREATE TRIGGER `{trigger}` BEFORE UPDATE ON `tabPOS Invoice` FOR EACH ROW
			BEGIN
				IF NEW.name = {frappe.db.escape(invoice)} AND NEW.custom_stock_synced = 1
					AND COALESCE({counter}, 0) < {int(times)} THEN
					SET {counter} = COALESCE({counter}, 0) + 1;
					SIGNAL SQLSTATE '40001' SET MYSQL_ERRNO = 1213, MESSAGE_TEXT = 'injected deadlock';
				END IF;
			END"""
		)
		self.triggers.append(trigger)

	def pause_on(self, timing: str, table: str, condition: str, seconds: float):
		"""Make a statement sleep inside MariaDB while `condition` holds for its row (a trigger), so a
		test can act while that transaction holds its locks. `condition` is SQL on NEW, written by the
		test itself (no user input)."""
		trigger = f"{self.tag.lower()}_pause_{len(self.triggers)}"
		frappe.db.commit()  # DDL commits implicitly; make that explicit
		frappe.db.sql(
			f"""CREATE TRIGGER `{trigger}` {timing} ON `{table}` FOR EACH ROW
			BEGIN
				IF {condition} THEN
					SET @scoopjoy_slept = SLEEP({float(seconds)});
				END IF;
			END"""
		)
		self.triggers.append(trigger)

	# ── queries ──
	def unsynced(self, warehouse: str) -> int:
		return frappe.db.count(
			"POS Invoice", {"set_warehouse": warehouse, "docstatus": 1, "custom_stock_synced": 0}
		)

	def synced(self, warehouse: str) -> int:
		return frappe.db.count("POS Invoice", {"set_warehouse": warehouse, "custom_stock_synced": 1})

	def logs(self, group: str | None = None) -> list:
		return frappe.get_all(
			"Stock Sync Log", filters={"outlet_group": group or self.group}, pluck="name", order_by="creation"
		)

	def commit(self):
		frappe.db.commit()

	def cleanup(self):
		frappe.db.rollback()
		frappe.set_user("Administrator")
		for trigger in self.triggers:  # first: a trigger left behind would break every later update
			frappe.db.sql(f"DROP TRIGGER IF EXISTS `{trigger}`")
		for invoice in getattr(self, "erpnext_invoices", []):
			doc = frappe.get_doc("POS Invoice", invoice)
			doc.cancel()
			doc.delete()
		frappe.db.delete("POS Invoice", {"name": ("like", f"{self.tag}-%")})
		for profile in getattr(self, "pos_profiles", []):
			if not frappe.db.exists("POS Invoice", {"pos_profile": profile}):
				frappe.delete_doc("POS Profile", profile, force=True)
		logs = self.extra_logs + frappe.get_all(
			"Stock Sync Log", filters={"outlet_group": ("in", self.groups)}, pluck="name"
		)
		for child in ("Stock Sync Log Outlet", "Stock Sync Log Consolidation"):
			frappe.db.delete(child, {"parent": ("in", logs or [""])})
		frappe.db.delete("Stock Sync Log", {"name": ("in", logs or [""])})
		frappe.db.delete("Error Log", {"reference_name": ("in", self.outlets or [""])})
		frappe.db.delete("Franchise Agreement", {"name": ("in", self.outlets or [""])})
		for warehouse in set(self.warehouses) - self.stocked_warehouses:
			frappe.delete_doc("Warehouse", warehouse, force=True)
		for group in self.groups:
			frappe.delete_doc("Outlet Group", group, force=True)
		for doctype, name in (("Customer", f"{self.tag} Walk-in"), ("Item", f"{self.tag}-SCOOP")):
			if frappe.db.exists(doctype, name) and not self.sold:  # sold: linked from the ledger
				frappe.delete_doc(doctype, name, force=True)
		frappe.db.commit()


class RealtimeRecorder:
	"""Subscribes to the Redis channel Frappe's Socket.IO server listens on."""

	def __init__(self):
		self.pubsub = get_redis_connection_without_auth().pubsub()
		self.pubsub.subscribe("events")
		self.messages = []
		self.thread = threading.Thread(target=self._listen, daemon=True)
		self.thread.start()

	def _listen(self):
		for item in self.pubsub.listen():
			if item["type"] == "message":
				self.messages.append(json.loads(item["data"]))

	def stop(self):
		time.sleep(0.3)
		self.pubsub.unsubscribe()
		self.thread.join(timeout=5)
		return [m for m in self.messages if m["namespace"] == frappe.local.site]


def wait_until(condition, timeout: float = 120, every: float = 0.05):
	deadline = time.monotonic() + timeout
	while time.monotonic() < deadline:
		frappe.db.rollback()  # a fresh snapshot each look
		if value := condition():
			return value
		time.sleep(every)
	raise AssertionError(f"condition not met within {timeout} s")


def someone_sleeping_in_mariadb() -> bool:
	"""A statement is inside a pause_on() trigger's SLEEP right now."""
	return bool(
		frappe.db.sql("SELECT 1 FROM information_schema.PROCESSLIST WHERE STATE = 'User sleep' LIMIT 1")
	)


def in_own_connection(work):
	"""Run `work()` in a thread with its own site connection (a cashier at another terminal);
	returns the thread, whose `.error` holds what `work` raised."""
	from tests.integration.conftest import BENCH, SITE

	def target():
		try:
			frappe.init(site=SITE, sites_path=str(BENCH / "sites"))
			frappe.connect()
			frappe.set_user("Administrator")
			work()
			frappe.db.commit()
		except Exception as e:
			thread.error = e
		finally:
			frappe.destroy()

	thread = threading.Thread(target=target)
	thread.error = None
	thread.start()
	return thread


def processed(run: str) -> int:
	return frappe.db.get_value("Stock Sync Log", run, "processed") or 0


def rows(run: str) -> dict:
	return {
		row.outlet: row
		for row in frappe.get_all(
			"Stock Sync Log Outlet",
			filters={"parent": run},
			fields=[
				"name",
				"outlet",
				"result",
				"invoices_synced",
				"invoices_consolidated",
				"invoices_flagged",
				"stock_qty",
				"attempts",
				"message",
				"creation",
			],
		)
	}


def unsynced_in_group(world) -> int:
	return frappe.db.count(
		"POS Invoice",
		{"set_warehouse": ("in", world.warehouses), "docstatus": 1, "custom_stock_synced": 0},
	)
