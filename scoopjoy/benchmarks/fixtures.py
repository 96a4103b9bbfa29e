"""What two or more benchmarks share: the data they build (all named SJBENCH…), how they measure, run
workers and count ledger rows, and the stamp every printed table starts with."""

import os
import platform
import subprocess
import time
from contextlib import contextmanager
from datetime import datetime, timezone

import frappe
from frappe.utils import get_bench_path, nowdate
from frappe.utils.nestedset import rebuild_tree

from scoopjoy import erpnext_pos, pos_factories, stock_sync

PREFIX = "SJBENCH"


RUNS_PER_HOUR = {"Every 5 minutes": 12, "Every 15 minutes": 4, "Hourly": 1}


def stamp() -> str:
	"""The line every benchmark's table starts with: when, on what versions, on how busy a machine."""
	version = frappe.db.sql("SELECT VERSION()")[0][0]  # nosemgrep: frappe-using-db-sql
	load = " ".join(f"{n:.2f}" for n in os.getloadavg())
	return (
		f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC · Frappe {frappe.__version__} · "
		f"ERPNext {erpnext_pos.erpnext_version()} · Python {platform.python_version()} · MariaDB {version} · "
		f"{os.cpu_count()} cores · load {load}"
	)


def statements() -> int:
	"""Statements this connection has sent, as MariaDB counts them."""
	return int(frappe.db.sql("SHOW SESSION STATUS LIKE 'Questions'")[0][1])  # nosemgrep: frappe-using-db-sql


@contextmanager
def stock_posting(mode: str):
	"""Run in this ScoopJoy Settings mode (committed: workers read it), then restore the site's."""
	before = frappe.db.get_single_value("ScoopJoy Settings", "stock_posting")
	frappe.db.set_single_value("ScoopJoy Settings", "stock_posting", mode)
	frappe.db.commit()  # nosemgrep: frappe-manual-commit
	try:
		yield
	finally:
		frappe.db.set_single_value("ScoopJoy Settings", "stock_posting", before)
		frappe.db.commit()  # nosemgrep: frappe-manual-commit


def run_on_workers(group: str, count: int, timeout: int = 1800) -> tuple[float, dict, str]:
	"""Start `count` workers, enqueue a sync of the group and time it to its end: (seconds, the run's
	end state, its name)."""
	processes = start_workers(count)
	try:
		started = time.perf_counter()
		run_name = stock_sync.enqueue_stock_sync(group)["sync_log"]
		ended = wait_for_run(run_name, timeout)
		return time.perf_counter() - started, ended, run_name
	finally:
		for process in processes:
			process.kill()
			process.wait()


def start_workers(count: int) -> list[subprocess.Popen]:
	env = {k: v for k, v in os.environ.items() if k != "CI"}
	processes = [
		subprocess.Popen(
			["bench", "--site", frappe.local.site, "worker", "--queue", "long,short"],
			cwd=get_bench_path(),
			env=env,
			stdout=subprocess.DEVNULL,
			stderr=subprocess.DEVNULL,
		)
		for _ in range(count)
	]
	time.sleep(6)  # let them start, so start-up is not timed
	return processes


def wait_for_run(name: str, timeout: int = 1800):
	deadline = time.monotonic() + timeout
	while time.monotonic() < deadline:
		frappe.db.rollback()
		run = frappe.db.get_value(
			"Stock Sync Log", name, ["status", "awaiting_report", "fan_out_jobs", "ended_on"], as_dict=True
		)
		if run.ended_on and not run.awaiting_report:
			return run
		time.sleep(0.2)
	raise TimeoutError(name)


def print_ledger_rows(label: str, rows: dict):
	print(f"{label}: " + ", ".join(f"{n:g} {doctype}" for doctype, n in rows.items()))


def ledger_rows_of(vouchers: list[str]) -> dict:
	filters = {"voucher_type": "Sales Invoice", "voucher_no": ("in", vouchers or [""]), "is_cancelled": 0}
	return {
		"Sales Invoice": len(vouchers),
		"GL Entry": frappe.db.count("GL Entry", filters),
		"Stock Ledger Entry": frappe.db.count("Stock Ledger Entry", filters),
	}


def ledger_rows_per_outlet(run_name: str, outlets: int) -> dict:
	vouchers = frappe.get_all(
		"Stock Sync Log Consolidation", filters={"parent": run_name}, pluck="sales_invoice"
	) + [
		v
		for v in frappe.get_all(
			"Stock Sync Log Consolidation", filters={"parent": run_name}, pluck="credit_note"
		)
		if v
	]
	return {doctype: rows / outlets for doctype, rows in ledger_rows_of(vouchers).items()}


class Fixture:
	"""Outlets, warehouses and pending POS Invoices written in bulk, all named SJBENCH…."""

	def __init__(self, outlets: int, per_outlet: int):
		self.outlets, self.per_outlet, self.invoices = outlets, per_outlet, outlets * per_outlet
		self.tag = f"{PREFIX}{frappe.generate_hash(length=5).upper()}"
		self.group = self.tag
		company = pos_factories.default_company()
		abbr = frappe.get_cached_value("Company", company, "abbr")
		territory = frappe.get_all("Territory", filters={"is_group": 0}, pluck="name", limit=1)[0]
		now = frappe.utils.now()
		audit = (now, now, "Administrator", "Administrator")
		self.warehouses = [f"{self.tag} W{i:05d} - {abbr}" for i in range(outlets)]

		frappe.get_doc({"doctype": "Outlet Group", "outlet_group_name": self.group}).insert()
		frappe.db.bulk_insert(
			"Warehouse",
			[
				"name",
				"warehouse_name",
				"company",
				"disabled",
				"is_group",
				"creation",
				"modified",
				"owner",
				"modified_by",
			],
			[(w, w, company, 0, 0, *audit) for w in self.warehouses],
		)
		insert_agreements(
			[f"{self.tag}-FA{i:05d}" for i in range(outlets)],
			self.warehouses,
			self.tag,
			self.group,
			territory,
		)
		insert_pending_invoices(
			company,
			(
				(f"{self.tag}-{i:05d}-{j:04d}", w, 1)
				for i, w in enumerate(self.warehouses)
				for j in range(per_outlet)
			),
		)
		frappe.db.commit()  # nosemgrep: frappe-manual-commit

	def reset(self):
		invoice = frappe.qb.DocType("POS Invoice")
		frappe.qb.update(invoice).set(invoice.custom_stock_synced, 0).where(
			invoice.name.like(f"{self.tag}-%")
		).run()
		self.remove_logs()
		frappe.db.commit()  # nosemgrep: frappe-manual-commit

	def pending(self) -> int:
		frappe.db.rollback()
		return frappe.db.count("POS Invoice", {"name": ("like", f"{self.tag}-%"), "custom_stock_synced": 0})

	def remove_logs(self):
		logs = frappe.get_all("Stock Sync Log", filters={"outlet_group": self.group}, pluck="name")
		if logs:
			frappe.db.delete("Stock Sync Log Outlet", {"parent": ("in", logs)})
			frappe.db.delete("Stock Sync Log", {"name": ("in", logs)})

	def remove(self):
		frappe.db.rollback()
		self.remove_logs()
		frappe.db.delete("POS Invoice", {"name": ("like", f"{self.tag}-%")})
		frappe.db.delete("Error Log", {"reference_name": ("like", f"{self.tag}-%")})
		frappe.db.delete("Outlet Sync Status", {"name": ("like", f"{self.tag}-%")})
		frappe.db.delete("Franchise Agreement", {"name": ("like", f"{self.tag}-%")})
		frappe.db.delete("Warehouse", {"name": ("like", f"{self.tag} W%")})
		frappe.db.delete("Outlet Group", self.group)
		frappe.db.commit()  # nosemgrep: frappe-manual-commit


class PostingWorld:
	"""Outlets with stock, a POS Profile each and POS Invoices, named SJBENCH…. By default every one
	made through ERPNext. With copies=True (the 10,000-invoice runs) only the first outlet is: its
	warehouse, POS Profile and POS Invoices are made through ERPNext, and every other outlet's are
	bulk-written copies of them (scoopjoy.pos_factories.copy_documents / copy_sales; test_bulk_linking proves a
	copied invoice posts what its original posts); the warehouse tree is rebuilt once."""

	def __init__(
		self,
		outlets: int,
		per_outlet: int,
		copies: bool = False,
		refunds: str | None = None,
		refund_every: int = 2,
	):
		"""`refunds`: every `refund_every`-th invoice of an outlet refunds the sale before it (a scoop
		each); "plenty": its warehouse holds a scoop per sale, "just enough": what the day sells net of
		its refunds, so the shop never runs short and ends at 0."""
		self.invoices = outlets * per_outlet
		self.tag = f"{PREFIX}{frappe.generate_hash(length=5).upper()}"
		self.group = self.tag
		company = pos_factories.default_company()
		frappe.get_doc({"doctype": "Outlet Group", "outlet_group_name": self.group}).insert()
		item = pos_factories.make_item(f"{self.tag}-SCOOP")
		customer = pos_factories.make_customer(f"{self.tag} Walk-in")
		made = outlets if not copies else 1
		warehouses, profiles = [], []
		for i in range(made):
			warehouse = frappe.get_doc(
				{"doctype": "Warehouse", "warehouse_name": f"{self.tag} P{i:04d}", "company": company}
			).insert()
			warehouses.append(warehouse.name)
			profiles.append(
				pos_factories.make_pos_profile(f"{self.tag} P{i:04d}", company, warehouse.name, customer)
			)
			if i % 100 == 99:
				frappe.db.commit()  # nosemgrep: frappe-manual-commit
		if copies:
			abbr = frappe.get_cached_value("Company", company, "abbr")
			more = [(f"{self.tag} P{i:04d}", f"{self.tag} P{i:04d} - {abbr}") for i in range(1, outlets)]
			pos_factories.copy_documents(
				"Warehouse", warehouses[0], [{"name": w, "warehouse_name": n} for n, w in more]
			)
			rebuild_tree("Warehouse")
			pos_factories.copy_documents(
				"POS Profile", profiles[0], [{"name": n, "warehouse": w} for n, w in more]
			)
			warehouses += [w for _n, w in more]
			profiles += [n for n, _w in more]
		self.profiles = profiles
		self.agreements = [f"{self.tag}-FA{i:05d}" for i in range(outlets)]
		insert_agreements(self.agreements, warehouses, self.tag, self.group)
		refunded = per_outlet // refund_every if refunds else 0
		stock = {None: 10 * per_outlet, "plenty": per_outlet, "just enough": per_outlet - 2 * refunded}[
			refunds
		]
		pos_factories.move_stock(company, {(item, w): stock for w in warehouses}, "Material Receipt")
		frappe.db.commit()  # nosemgrep: frappe-manual-commit
		for profile in profiles[:made]:
			sold = []
			for j in range(per_outlet):
				if refunds and j % refund_every == refund_every - 1:
					sold.append(pos_factories.return_of(sold[-1], 1))
				else:
					sold.append(
						pos_factories.sell(company, profile, customer, {item: 1 if refunds else 1 + j % 3})
					)
			frappe.db.commit()  # nosemgrep: frappe-manual-commit
		if copies:
			pos_factories.copy_sales(
				sold, list(zip(warehouses[1:], profiles[1:], strict=True)), per_outlet, f"{self.tag}-COPY"
			)
			frappe.db.commit()  # nosemgrep: frappe-manual-commit

	def remove(self):
		"""scoopjoy's records and the open shifts go; the posted ledger, its warehouses and POS Invoices stay."""
		logs = frappe.get_all("Stock Sync Log", filters={"outlet_group": self.group}, pluck="name")
		for child in ("Stock Sync Log Outlet", "Stock Sync Log Consolidation"):
			frappe.db.delete(child, {"parent": ("in", logs or [""])})
		frappe.db.delete("Stock Sync Log", {"name": ("in", logs or [""])})
		frappe.db.delete("Franchise Agreement", {"name": ("in", self.agreements)})
		frappe.db.delete("Outlet Group", self.group)
		pos_factories.drop_open_shifts(self.profiles)
		frappe.db.commit()  # nosemgrep: frappe-manual-commit


def insert_agreements(names: list[str], warehouses: list[str], tag: str, group: str, territory=None):
	"""Submitted, active Franchise Agreements written in bulk, one per warehouse."""
	territory = territory or pos_factories.leaf("Territory")
	now = frappe.utils.now()
	frappe.db.bulk_insert(
		"Franchise Agreement",
		[
			"name",
			"franchise_name",
			"franchise_warehouse",
			"outlet_group",
			"territory",
			"agreement_status",
			"docstatus",
			"creation",
			"modified",
			"owner",
			"modified_by",
		],
		[
			(
				name,
				f"{tag} Outlet {i}",
				w,
				group,
				territory,
				"Active",
				1,
				now,
				now,
				"Administrator",
				"Administrator",
			)
			for i, (name, w) in enumerate(zip(names, warehouses, strict=True))
		],
	)


def insert_pending_invoices(company: str, invoices):
	"""Write POS Invoices in bulk, unsynced: (name, warehouse, docstatus) each. Only the columns the
	sync reads are filled; these are test and benchmark rows, not sales."""
	now = frappe.utils.now()
	frappe.db.bulk_insert(
		"POS Invoice",
		[
			"name",
			"docstatus",
			"company",
			"posting_date",
			"set_warehouse",
			"custom_stock_synced",
			"creation",
			"modified",
			"owner",
			"modified_by",
		],
		(
			(name, docstatus, company, nowdate(), warehouse, 0, now, now, "Administrator", "Administrator")
			for name, warehouse, docstatus in invoices
		),
	)
