"""Builds outlets, warehouses and POS Invoices on the real site, and removes them again.

Most invoices are written in bulk (the sync only reads name, docstatus, set_warehouse and the flag);
`make_erpnext_invoice` makes one through ERPNext's own validation and submit.
"""

import json
import threading
import time

import frappe
from frappe.utils.background_jobs import get_queue, get_redis_connection_without_auth

from scoopjoy import pos_factories
from scoopjoy.benchmarks.fixtures import insert_pending_invoices

TEST_PREFIX = "SJT"


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
		self.company = pos_factories.default_company()
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

	def make_selling_outlet(self, label: str, invoices: int) -> frappe._dict:
		"""An active outlet with a warehouse of its own and `invoices` POS invoices waiting for the sync."""
		outlet = self.make_outlet(label, self.make_warehouse(label))
		self.make_pending_invoices(outlet.warehouse, invoices)
		return outlet

	# ── invoices ──
	def make_pending_invoices(self, warehouse: str, count: int, docstatus: int = 1) -> list[str]:
		names = [f"{self.tag}-{self.invoice_count + i:07d}" for i in range(count)]
		self.invoice_count += count
		insert_pending_invoices(self.company, ((name, warehouse, docstatus) for name in names))
		return names

	def make_erpnext_invoice(self, warehouse: str) -> str:
		"""A POS Invoice made the way a POS terminal makes one, at an outlet with no stock booked (the
		mark-only tests never post it)."""
		item = pos_factories.make_item(f"{self.tag}-SCOOP")
		frappe.db.set_value("Item", item, "allow_negative_stock", 1)
		outlet = frappe._dict(
			pos_profile=pos_factories.make_pos_profile(
				f"{self.tag} {warehouse}", self.company, warehouse, self.make_customer()
			)
		)
		self.pos_profiles = [*getattr(self, "pos_profiles", []), outlet.pos_profile]
		invoice = pos_factories.sell(self.company, outlet.pos_profile, self.make_customer(), {item: 2})
		self.erpnext_invoices = [*getattr(self, "erpnext_invoices", []), invoice]
		return invoice

	# ── a real ERPNext world (scoopjoy.pos_factories): stock, POS profiles, POS Invoices made through ERPNext ──
	# Ledger documents are permanent, as in production: cleanup removes scoopjoy's records and
	# leaves the tagged warehouses, items and vouchers (a warehouse with stock cannot be deleted).
	def make_item(self, label: str) -> str:
		return pos_factories.make_item(f"{self.tag}-{label}")

	def make_bundle(self, label: str, parts: dict[str, float]) -> str:
		"""A Product Bundle item (a sundae is scoops): not a stock item itself; its parts are."""
		bundle = f"{self.tag}-{label}"
		frappe.get_doc(
			{
				"doctype": "Item",
				"item_code": bundle,
				"item_group": pos_factories.leaf("Item Group"),
				"stock_uom": "Nos",
				"is_stock_item": 0,
			}
		).insert()
		frappe.get_doc(
			{
				"doctype": "Product Bundle",
				"new_item_code": bundle,
				"items": [{"item_code": item, "qty": qty} for item, qty in parts.items()],
			}
		).insert()
		return bundle

	def make_customer(self, label: str = "Walk-in") -> str:
		return pos_factories.make_customer(f"{self.tag} {label}", self.territory)

	def make_stocked_outlet(
		self, label: str, stock: dict[str, float], group: str | None = None
	) -> frappe._dict:
		"""An outlet with its warehouse, its POS Profile, and opening stock booked by a Material Receipt."""
		warehouse = self.make_warehouse(label)
		self.stocked_warehouses.add(warehouse)
		outlet = self.make_outlet(label, warehouse, group)
		outlet.pos_profile = pos_factories.make_pos_profile(
			f"{self.tag} {warehouse}", self.company, warehouse, self.make_customer()
		)
		self.pos_profiles = [*getattr(self, "pos_profiles", []), outlet.pos_profile]
		if stock:
			self.move_stock(warehouse, stock, "Material Receipt")
		return outlet

	def good_and_short_outlets(self) -> tuple[frappe._dict, frappe._dict]:
		"""Two stocked outlets: one that sold 2 + 3 scoops of 20, one whose only scoop left by a Material
		Issue after it was sold (ERPNext will refuse to post it). Committed."""
		scoop = self.make_item("SCOOP")
		good = self.make_stocked_outlet("Good", {scoop: 20})
		good.invoices = [self.sell(good, {scoop: 2}), self.sell(good, {scoop: 3})]
		short = self.make_stocked_outlet("Short", {scoop: 1})
		short.invoices = [self.sell(short, {scoop: 1})]
		self.move_stock(short.warehouse, {scoop: 1}, "Material Issue")
		self.commit()
		return good, short

	def move_stock(self, warehouse: str, stock: dict[str, float], purpose: str) -> str:
		return pos_factories.move_stock(
			self.company, {(item, warehouse): qty for item, qty in stock.items()}, purpose
		)

	def sell(self, outlet: dict, lines: dict[str, float], customer: str | None = None) -> str:
		invoice = pos_factories.sell(
			self.company, outlet.pos_profile, customer or self.make_customer(), lines
		)
		self.sold.append(invoice)
		return invoice

	def return_of(self, invoice: str, qty: float) -> str:
		credit = pos_factories.return_of(invoice, qty)
		self.sold.append(credit)
		return credit

	def close_pos_shift(self, outlet: dict, invoices: list[str]) -> str:
		return pos_factories.close_pos_shift(self.company, outlet.pos_profile, invoices)

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
		# Inline: what deleting documents enqueues (Frappe's delete_dynamic_links, on the default queue)
		# would otherwise pile up on a queue no test worker drains.
		frappe.flags.in_test = True
		for trigger in self.triggers:  # first: a trigger left behind would break every later update
			frappe.db.sql(f"DROP TRIGGER IF EXISTS `{trigger}`")
		for invoice in getattr(self, "erpnext_invoices", []):
			doc = frappe.get_doc("POS Invoice", invoice)
			doc.cancel()
			doc.delete()
		frappe.db.delete("POS Invoice", {"name": ("like", f"{self.tag}-%")})
		pos_factories.drop_open_shifts(getattr(self, "pos_profiles", []))
		for profile in getattr(self, "pos_profiles", []):
			if not frappe.db.exists("POS Invoice", {"pos_profile": profile}):
				frappe.delete_doc("POS Profile", profile, force=True)
		logs = self.extra_logs + frappe.get_all(
			"Stock Sync Log", filters={"outlet_group": ("in", self.groups)}, pluck="name"
		)
		for child in ("Stock Sync Log Outlet", "Stock Sync Log Consolidation", "Stock Sync Log Held Sale"):
			frappe.db.delete(child, {"parent": ("in", logs or [""])})
		frappe.db.delete("Held POS Sale", {"outlet": ("in", self.outlets or [""])})
		frappe.db.delete("Stock Sync Log", {"name": ("in", logs or [""])})
		frappe.db.delete("Error Log", {"reference_name": ("in", self.outlets or [""])})
		frappe.db.delete("Notification Log", {"document_name": ("in", logs + self.outlets or [""])})
		frappe.db.delete("Outlet Sync Status", {"name": ("in", self.outlets or [""])})
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
	"""Subscribes to the Redis channel Frappe's Socket.IO server listens on, and to a channel of its own
	for its markers: Redis hands a subscriber its messages in the order it ran the PUBLISH commands, so
	once a marker published now comes back, every message published before it is in."""

	def __init__(self, timeout: float = 30):
		self.redis = get_redis_connection_without_auth()
		self.marker_channel = f"scoopjoy_test_recorder_{frappe.generate_hash(length=12)}"
		self.pubsub = self.redis.pubsub()
		self.pubsub.subscribe("events", self.marker_channel)
		self.messages, self.markers, self.subscriptions = [], [], 0
		self.arrived = threading.Condition()
		self.thread = threading.Thread(target=self._listen, daemon=True)
		self.thread.start()
		# Subscribed once Redis confirms both channels: a message published before would be missed.
		self._wait(
			lambda: self.subscriptions >= 2, timeout, "Redis did not confirm the recorder's subscriptions"
		)

	def _listen(self):
		for item in self.pubsub.listen():
			with self.arrived:
				if item["type"] == "subscribe":
					self.subscriptions += 1
				elif item["type"] == "message" and as_text(item["channel"]) == self.marker_channel:
					self.markers.append(as_text(item["data"]))
				elif item["type"] == "message":
					self.messages.append(json.loads(item["data"]))
				self.arrived.notify_all()

	def _wait(self, condition, timeout: float, failure: str):
		with self.arrived:
			if not self.arrived.wait_for(condition, timeout=timeout):
				raise AssertionError(f"{failure} within {timeout} s")

	def wait_for(self, predicate, what: str, timeout: float = 120) -> dict:
		"""The first message of this site for which `predicate(message)` holds, once it has arrived: a
		worker publishes after its commit, so a row it committed can be read before its message is out."""

		def found():
			return next(
				(m for m in self.messages if m["namespace"] == frappe.local.site and predicate(m)), None
			)

		self._wait(lambda: found() is not None, timeout, f"no realtime message {what}")
		return found()

	def stop(self, about: tuple[str, ...] = (), timeout: float = 30):
		"""This site's messages published before this call; with `about`, only those naming one of these
		(a run, a world's tag): other tests' workers, and other benches on the same Redis, publish on the
		same channel."""
		marker = frappe.generate_hash(length=12)
		self.redis.publish(self.marker_channel, marker)
		try:
			self._wait(lambda: marker in self.markers, timeout, "the recorder's marker did not come back")
		finally:
			self.pubsub.unsubscribe()
			self.thread.join(timeout=5)
		return [
			m
			for m in self.messages
			if m["namespace"] == frappe.local.site and (not about or any(a in json.dumps(m) for a in about))
		]


def as_text(value) -> str:
	return value.decode() if isinstance(value, bytes) else value


def wait_until(condition, timeout: float = 120, every: float = 0.05, what: str = "condition not met"):
	"""Look every `every` s until `condition()` is truthy, and return it; fail, saying `what` did not
	happen, when it is not within `timeout` s."""
	deadline = time.monotonic() + timeout
	while time.monotonic() < deadline:
		frappe.db.rollback()  # a fresh snapshot each look
		if value := condition():
			return value
		time.sleep(every)
	raise AssertionError(f"{what} within {timeout} s")


def someone_sleeping_in_mariadb() -> bool:
	"""A statement is inside a pause_on() trigger's SLEEP right now."""
	return bool(
		frappe.db.sql("SELECT 1 FROM information_schema.PROCESSLIST WHERE STATE = 'User sleep' LIMIT 1")
	)


def paused_statement(other_than: tuple | None = None) -> tuple | None:
	"""(connection, query id) of a statement of this site's database inside a pause_on() trigger's SLEEP
	right now, other than `other_than`: a query id is the statement's own, so another one is a statement
	that paused after that one."""
	processlist = frappe.qb.Table("PROCESSLIST", schema="information_schema")
	for statement in (
		frappe.qb.from_(processlist)
		.select(processlist.ID, processlist.QUERY_ID)
		.where((processlist.STATE == "User sleep") & (processlist.DB == frappe.conf.db_name))
		.run()
	):
		if tuple(statement) != other_than:
			return tuple(statement)
	return None


def wait_for_pause(other_than: tuple | None = None, timeout: float = 120) -> tuple:
	"""Until a statement pauses in a pause_on() trigger (another than `other_than`); which one."""
	return wait_until(
		lambda: paused_statement(other_than), timeout=timeout, what="no statement paused in a trigger"
	)


def lock_holder_paused(lock_names: list[str]) -> bool:
	"""The connection holding one of these named locks is inside a pause_on() trigger's SLEEP."""
	from scoopjoy import named_lock

	processlist = frappe.qb.Table("PROCESSLIST", schema="information_schema")
	for name in lock_names:
		if holder := named_lock.holder(name):
			if (
				frappe.qb.from_(processlist)
				.select(processlist.ID)
				.where((processlist.ID == holder) & (processlist.STATE == "User sleep"))
				.run()
			):
				return True
	return False


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


def all_and_group_at_once(world) -> tuple[str, str]:
	"""Runs of "All" and of the world's group on two real workers at once, until both workers end."""
	from scoopjoy import stock_sync
	from tests.integration.conftest import kill_9, start_worker

	frappe.flags.in_test = False
	group_run = stock_sync.enqueue_stock_sync(world.group)["sync_log"]
	all_run = stock_sync.enqueue_stock_sync()["sync_log"]
	world.extra_logs.append(all_run)
	workers = [start_worker("long") for _ in range(2)]  # the two runs at once, one per core
	try:
		wait_until(
			lambda: all(
				frappe.db.get_value("Stock Sync Log", r, "awaiting_report") for r in (group_run, all_run)
			),
			timeout=300,
		)
	finally:
		for worker in workers:
			kill_9(worker)
	return group_run, all_run


def processed(run: str) -> int:
	return frappe.db.get_value("Stock Sync Log", run, "processed") or 0


def chunks_of(run: str) -> dict:
	"""The run's outlets per chunk (creation time: a chunk's rows share it)."""
	chunks = {}
	for row in rows(run).values():
		chunks.setdefault(row.creation, []).append(row.outlet)
	return chunks


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
				"invoices_held",
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
