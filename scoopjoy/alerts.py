"""Notifications nobody has to poll for: the bell (Notification Log) of every user with the alert role
of ScoopJoy Settings, when a run ends in trouble and when an outlet keeps failing. Created in the
transaction that makes the run's outcome final, so an alert exists exactly when that outcome does,
whoever (or whatever scheduler) started the run."""

import frappe
from frappe import _
from frappe.desk.doctype.notification_log.notification_log import make_notification_logs
from frappe.utils.user import get_users_with_role

from scoopjoy.scoopjoy.doctype.outlet_sync_status.outlet_sync_status import newly_chronic_outlets
from scoopjoy.scoopjoy.doctype.scoopjoy_settings.scoopjoy_settings import alert_role

TROUBLE = ("Completed with Errors", "Failed")
FIRST_FEW = 5  # failed outlets named in an alert; the rest are counted


def alert_on_trouble(run):
	"""A run's outcome is final: tell the alert role about it if it went wrong, and about every
	outlet that has now failed CHRONIC_FAILURES runs in a row (once per streak)."""
	emails = recipients()
	if run.status in TROUBLE:
		notify(emails, run.doctype, run.name, run_subject(run), run.summary)
	for outlet in newly_chronic_outlets():
		notify(emails, "Franchise Agreement", outlet.outlet, chronic_subject(outlet), outlet.last_error)
		frappe.db.set_value("Outlet Sync Status", outlet.outlet, "chronic_alert_sent", 1)


def recipients() -> list[str]:
	role = alert_role()
	if not role:
		return []
	users = get_users_with_role(role)  # enabled users, Administrator excluded (as ERPNext's alerts)
	return frappe.get_all("User", filters={"name": ("in", users or [""])}, pluck="email")


def notify(emails: list[str], doctype: str, name: str, subject: str, content: str | None):
	if not emails:
		return
	make_notification_logs(
		{
			"type": "Alert",
			"document_type": doctype,
			"document_name": name,
			"subject": subject,
			"email_content": content,
			"from_user": "Administrator",
		},
		emails,
	)


def run_subject(run) -> str:
	failed = run.failed_outlets()
	held = held_part(run)
	if not failed and not held:  # given up before any outlet failed: the run itself is the trouble
		return _("Stock sync {0} {1}: {2}").format(run.name, _(run.status), run.summary)
	if not failed:
		return _("Stock sync {0} {1}: {2}").format(run.name, _(run.status), held)
	subject = _("Stock sync {0} {1}: {2} of {3} outlets failed ({4})").format(
		run.name, _(run.status), len(failed), run.total_outlets, first_few(failed)
	)
	return f"{subject}; {held}" if held else subject


def held_part(run) -> str:
	"""The run's held sales, the first few by name: "3 sales held (SINV-1, SINV-2 and 1 more)"."""
	if not run.get("invoices_held"):
		return ""
	names = [h.pos_invoice for h in run.held_sale_rows(limit=FIRST_FEW + 1)]
	return _("{0} sales held ({1})").format(run.invoices_held, first_few(names, total=run.invoices_held))


def first_few(names: list[str], total: int | None = None) -> str:
	total = len(names) if total is None else total
	named = ", ".join(names[:FIRST_FEW])
	if total > FIRST_FEW:
		named = _("{0} and {1} more").format(named, total - FIRST_FEW)
	return named


def chronic_subject(outlet) -> str:
	return _("Outlet {0} has failed {1} stock syncs in a row (last in {2}).").format(
		outlet.outlet, outlet.consecutive_failures, outlet.last_error_run
	)
