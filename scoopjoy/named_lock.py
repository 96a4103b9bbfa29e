"""MariaDB named locks (GET_LOCK): atomic across processes and machines, held by one database
connection, and freed by the server the moment that connection ends, so a killed process never
leaves a stale lock behind. Not transactional: commits and rollbacks do not release them."""

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
	return frappe.qb.select(IS_USED_LOCK(name)).run()[0][0] is not None


@contextmanager
def held(name: str, timeout: int, busy_message: str):
	if not acquire(name, timeout):
		frappe.throw(busy_message)
	try:
		yield
	finally:
		release(name)
