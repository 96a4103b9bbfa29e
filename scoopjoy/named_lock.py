"""MariaDB named locks (GET_LOCK): atomic across processes and machines, held by one database
connection, and freed by the server the moment that connection ends, so a killed process never
leaves a stale lock behind. Not transactional: commits and rollbacks do not release them.

A process that stops without dying (a paused VM, SIGSTOP, a host cut off) keeps its connection, and
so its lock, until MariaDB's wait_timeout (8 hours). Its connection then sits idle: `holder_idle_for`
says for how long, and `take_from` ends that connection, which rolls back its open transaction, frees
the lock and makes the process's next statement fail whenever it wakes."""

import time
from contextlib import contextmanager

import frappe
from pypika.terms import CustomFunction

GET_LOCK = CustomFunction("GET_LOCK", ["name", "timeout"])
RELEASE_LOCK = CustomFunction("RELEASE_LOCK", ["name"])
IS_USED_LOCK = CustomFunction("IS_USED_LOCK", ["name"])


def acquire(name: str, timeout: int = 0) -> bool:
	return frappe.qb.select(GET_LOCK(name, timeout)).run()[0][0] == 1


def release(name: str):
	frappe.qb.select(RELEASE_LOCK(name)).run()


def is_held(name: str) -> bool:
	"""By any connection, this one included."""
	return holder(name) is not None


def holder(name: str) -> int | None:
	"""The connection id holding the lock."""
	return frappe.qb.select(IS_USED_LOCK(name)).run()[0][0]


def holder_idle_for(connection: int) -> float | None:
	"""Seconds since the connection last ran a statement (0 while it runs one); None when it is gone.
	A live worker runs statements all along; a frozen one leaves its connection idle. A connection of
	the site's own database user, so no PROCESS privilege is needed to see it."""
	processlist = frappe.qb.Table("PROCESSLIST", schema="information_schema")
	row = (
		frappe.qb.from_(processlist)
		.select(processlist.COMMAND, processlist.TIME_MS)
		.where(processlist.ID == connection)
		.run()
	)
	if not row:
		return None
	command, time_ms = row[0]
	return float(time_ms) / 1000 if command == "Sleep" else 0.0


def take_from(name: str, connection: int, wait: float = 30) -> bool:
	"""End the holder's connection and wait until MariaDB has rolled its transaction back and freed the
	lock. The holder can write nothing more: its next statement fails. True once the lock is free."""
	# KILL has no query-builder form; the id is an int read from IS_USED_LOCK.
	frappe.db.sql(f"KILL CONNECTION {int(connection)}")  # nosemgrep: frappe-using-db-sql
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
