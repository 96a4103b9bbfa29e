"""A savepoint for one outlet that undoes everything a failed outlet did, not only its SQL.

`ROLLBACK TO SAVEPOINT` undoes rows. It does not undo what the rolled-back documents queued in this
process for the chunk's commit, and Frappe's own rollback hooks only run on a full rollback
(frappe/database/database.py: "rollback watchers can not work with save points"). Left alone, an
outlet whose Sales Invoice was rolled back would still, at the chunk's commit, send its realtime
messages, enqueue its after-commit jobs and webhooks, and leave ERPNext's per-process caches
(`frappe.local.future_sle`, keyed by a voucher name the naming series hands out again) describing
documents that do not exist. `rollback()` puts all of that back to where the savepoint was taken.
"""

import frappe
from frappe.realtime import clear_realtime_log

# Process-local lists that documents append to and an after-commit callback flushes.
QUEUED_ON_LOCAL = ("_realtime_log", "_webhook_queue")


class Savepoint:
	def __init__(self):
		self.name = f"outlet_{frappe.generate_hash(length=10)}"
		frappe.db.savepoint(self.name)
		self.callbacks = {
			name: len(getattr(frappe.db, name)._functions)
			for name in ("before_commit", "after_commit", "before_rollback", "after_rollback")
		}
		self.local_queues = {
			name: len(getattr(frappe.local, name)) if getattr(frappe.local, name, None) is not None else None
			for name in QUEUED_ON_LOCAL
		}
		self.messages = len(frappe.local.message_log)

	def rollback(self):
		frappe.db.rollback(save_point=self.name)
		self._run_rollback_watchers()
		for name, length in self.callbacks.items():
			truncate(getattr(frappe.db, name)._functions, length)
		for name, length in self.local_queues.items():
			if length is None:
				if hasattr(frappe.local, name):
					delattr(frappe.local, name)
			else:
				truncate(getattr(frappe.local, name), length)
		forget_rolled_back_rows()
		self.drop_messages()

	def drop_messages(self):
		"""The documents' msgprints are for a user who is not there; the outlet's row keeps its error."""
		del frappe.local.message_log[self.messages :]

	def _run_rollback_watchers(self):
		# What the rolled-back documents registered to undo their side effects (document cache
		# entries, written files). Not clear_realtime_log: it would also drop the messages of the
		# outlets before this one; the realtime queue is truncated instead.
		added = list(frappe.db.after_rollback._functions)[self.callbacks["after_rollback"] :]
		for callback in added:
			if callback is not clear_realtime_log:
				callback()


def forget_rolled_back_rows():
	"""Process caches that may describe rows a rollback took back (a full rollback too: Frappe's own
	rollback watchers do not know ERPNext's); they refill from the database."""
	frappe.local.future_sle = {}
	frappe.db.value_cache.clear()


def truncate(sequence, length: int):
	while len(sequence) > length:
		sequence.pop()
