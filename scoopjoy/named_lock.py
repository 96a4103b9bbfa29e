"""MariaDB named locks (GET_LOCK): atomic across processes and machines, held by one database
connection, and freed by the server the moment that connection ends, so a killed process never
leaves a stale lock behind. Not transactional: commits and rollbacks do not release them.

Named locks are server-wide, not per database: every site on the MariaDB server shares one namespace,
and two sites installed alike hand out the same run names. Every name is therefore scoped to the
site's database (`site_scoped`), as Frappe scopes its job ids and file locks per site; callers pass
the app's own name and never see the scoped one.

A process that stops without dying (a paused VM, SIGSTOP, a host cut off) keeps its connection, and
so its lock, until MariaDB's wait_timeout (8 hours). Its connection then sits idle: `holder_idle_for`
says for how long, and `take_from` ends that connection, which rolls back its open transaction, frees
the lock and makes the process's next statement fail whenever it wakes. Only ever a connection of the
site's own database user, on the site's database, seen as such: a holder this connection cannot see
(another user's, or a moment inside a definer's trigger) is alive as far as the app knows."""

import hashlib
import time
from contextlib import contextmanager

import frappe
from frappe import _
from pymysql.constants import ER
from pypika.terms import CustomFunction

GET_LOCK = CustomFunction("GET_LOCK", ["name", "timeout"])
RELEASE_LOCK = CustomFunction("RELEASE_LOCK", ["name"])
IS_USED_LOCK = CustomFunction("IS_USED_LOCK", ["name"])
MAX_NAME = 64  # MariaDB refuses longer lock names


class CannotEndHolder(Exception):
	"""The holder's connection could not be ended; nothing was changed."""


def site_scoped(name: str) -> str:
	"""The server-wide lock name for this site's `name`: its database name (unique on the server)
	first, hashed where the whole would be longer than MariaDB allows."""
	scoped = f"{frappe.conf.db_name}:{name}"
	if len(scoped) <= MAX_NAME:
		return scoped
	return f"scoopjoy:{hashlib.sha256(scoped.encode()).hexdigest()[: MAX_NAME - 9]}"


def acquire(name: str, timeout: int = 0) -> bool:
	return frappe.qb.select(GET_LOCK(site_scoped(name), timeout)).run()[0][0] == 1


def release(name: str):
	frappe.qb.select(RELEASE_LOCK(site_scoped(name))).run()


def is_held(name: str) -> bool:
	"""By any connection, this one included."""
	return holder(name) is not None


def holder(name: str) -> int | None:
	"""The connection id holding the lock."""
	return frappe.qb.select(IS_USED_LOCK(site_scoped(name))).run()[0][0]


def legacy_holder(name: str) -> int | None:
	"""The holder of `name` as the release before site scoping named it (server-wide). Upgrades only:
	a worker of that release may still be running when the site is migrated."""
	return frappe.qb.select(IS_USED_LOCK(name)).run()[0][0]


def holder_idle_for(connection: int) -> float | None:
	"""Seconds since the connection last ran a statement (0 while it runs one). None when it is not
	one of this site's own connections as this connection sees them: gone, another database user's
	(a user sees only its own threads, unless it has PROCESS), or one of ours shown as a definer for
	the moment it runs a definer's trigger or routine. A live worker runs statements all along; a
	frozen one leaves its connection idle."""
	processlist = frappe.qb.Table("PROCESSLIST", schema="information_schema")
	row = (
		frappe.qb.from_(processlist)
		.select(processlist.COMMAND, processlist.TIME_MS)
		.where(
			(processlist.ID == connection)
			& (processlist.USER == frappe.db.user)
			& (processlist.DB == frappe.conf.db_name)
		)
		.run()
	)
	if not row:
		return None
	command, time_ms = row[0]
	return float(time_ms) / 1000 if command == "Sleep" else 0.0


def take_from(name: str, connection: int, wait: float = 30) -> bool:
	"""End the holder's connection and wait until MariaDB has rolled its transaction back and freed the
	lock. The holder can write nothing more: its next statement fails. True once the lock is free.
	Raises CannotEndHolder, having ended nothing, when the connection is not one of the site's own or
	MariaDB refuses the KILL."""
	if holder_idle_for(connection) is None:
		raise CannotEndHolder(_("connection {0} is not one of this site's").format(connection))
	try:
		# KILL has no query-builder form; the id is an int read from IS_USED_LOCK.
		frappe.db.sql(f"KILL CONNECTION {int(connection)}")  # nosemgrep: frappe-using-db-sql
	except frappe.db.OperationalError as e:
		if e.args[0] != ER.NO_SUCH_THREAD:  # gone meanwhile: what we wanted
			raise CannotEndHolder(str(e.args[-1])) from e
	deadline = time.monotonic() + wait
	while time.monotonic() < deadline:
		if holder(name) is None:
			return True
		time.sleep(0.05)
	return False


@contextmanager
def held(name: str, timeout: int, busy_message: str):
	if not acquire(name, timeout):
		frappe.throw(busy_message)
	try:
		yield
	finally:
		release(name)
