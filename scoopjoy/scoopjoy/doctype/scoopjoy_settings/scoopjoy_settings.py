# Copyright (c) 2026, ScoopJoy and contributors
# For license information, please see license.txt

"""Every knob of the sync in one Desk form. A run reads them when it starts (a worker's database
connection caches single values for its job), so a change takes effect from the next run on."""

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.utils import cint, flt

CONSOLIDATE = "Consolidate into stock ledger"
MARK_ONLY = "Mark invoices only"
LOG_DOCTYPE = "Stock Sync Log"

# fieldname: (site config key that overrides the form, default, minimum, maximum). The keys predate
# the form and keep working; sites set them from a shell, tests set fractions of a second.
LIMITS = {
	# Below stock_sync.JOB_TIMEOUT (1800 s), where RQ kills the job mid-chunk.
	"time_budget": ("scoopjoy_sync_time_budget", 1500, 60, 1740),
	"chunk_seconds": ("scoopjoy_chunk_seconds", 5, 1, 60),
	"lock_wait_timeout": ("scoopjoy_lock_wait_timeout", 10, 1, 300),
	"fan_out_threshold": ("scoopjoy_fan_out_threshold", 2000, 10, 1_000_000),
	"fan_out_batch": ("scoopjoy_fan_out_batch", 250, 10, 10_000),
	# Under 10 s a live worker between two statements would be taken for frozen.
	"stale_after": ("scoopjoy_stale_after", 60, 10, 3600),
	"retention_days": (None, 90, 1, 3650),
}


class ScoopJoySettings(Document):
	def validate(self):
		for fieldname, (_key, _default, minimum, maximum) in LIMITS.items():
			value = self.get(fieldname)
			if value in (None, ""):
				continue
			if not minimum <= cint(value) <= maximum:
				frappe.throw(
					_("{0} must be between {1} and {2}.").format(
						_(self.meta.get_label(fieldname)), minimum, maximum
					),
					title=_("Invalid value"),
				)
		if self.schedule == "Daily" and not self.daily_at:
			frappe.throw(_("Set the time of day for the daily sync."))

	def on_update(self):
		frappe.db.value_cache.pop(self.doctype, None)  # this process reads the new values too
		if self.has_value_changed("retention_days") and self.retention_days:
			set_log_settings_retention(cint(self.retention_days))


def setting(fieldname: str) -> float:
	"""A limit as the site has it: its site config key, else the form, else the default."""
	key, default, _minimum, _maximum = LIMITS[fieldname]
	return (
		flt(key and frappe.conf.get(key))
		or flt(frappe.db.get_single_value("ScoopJoy Settings", fieldname))
		or default
	)


def stock_posting_mode() -> str:
	"""The mode a new run uses. A site upgraded by `migrate` has no stored value yet: the default."""
	return frappe.db.get_single_value("ScoopJoy Settings", "stock_posting") or CONSOLIDATE


def stale_after() -> int:
	"""Seconds of database silence after which a run's worker is taken for frozen."""
	return cint(setting("stale_after"))


def schedule() -> str:
	return frappe.db.get_single_value("ScoopJoy Settings", "schedule") or "Hourly"


def alert_role() -> str | None:
	return frappe.db.get_single_value("ScoopJoy Settings", "alert_role")


# ── history retention, shared with Log Settings ────────────────────────────────────────────


def set_log_settings_retention(days: int):
	"""Frappe's daily log clean-up deletes by the days on Log Settings' row; keep that row in step."""
	log_settings = frappe.get_doc("Log Settings")
	log_settings.register_doctype(LOG_DOCTYPE, days)
	log_settings.flags.scoopjoy_retention_synced = True  # its on_update must not write back here
	log_settings.save(ignore_permissions=True)


def retention_from_log_settings(log_settings, method=None):
	"""Log Settings' on_update: a change of its Stock Sync Log row shows in ScoopJoy Settings."""
	if log_settings.flags.scoopjoy_retention_synced:
		return
	for row in log_settings.logs_to_clear:
		if row.ref_doctype == LOG_DOCTYPE and cint(row.days) != cint(setting("retention_days")):
			frappe.db.set_single_value("ScoopJoy Settings", "retention_days", cint(row.days))


def register_with_log_settings():
	"""Install and migrate: Log Settings gets its Stock Sync Log row (it would add it only when next
	saved, from hooks.default_log_clearing_doctypes), with the retention of ScoopJoy Settings."""
	log_settings = frappe.get_doc("Log Settings")
	if not any(row.ref_doctype == LOG_DOCTYPE for row in log_settings.logs_to_clear):
		set_log_settings_retention(cint(setting("retention_days")))
