"""Operating the sync: ScoopJoy Settings, the Outlet Sync Health report, the workspace figures, the
alerts and the bounded history, on the real site."""

import datetime

import pytest

frappe = pytest.importorskip("frappe", reason="Frappe tier skipped: no Frappe bench (FRAPPE_BENCH)")

from frappe.utils import add_days, add_to_date, cint, now_datetime  # noqa: E402

from scoopjoy import dashboard, stock_sync  # noqa: E402
from scoopjoy.scoopjoy.doctype.outlet_sync_status.outlet_sync_status import CHRONIC_FAILURES  # noqa: E402
from scoopjoy.scoopjoy.doctype.scoopjoy_settings.scoopjoy_settings import (  # noqa: E402
	LIMITS,
	set_log_settings_retention,
	setting,
)
from scoopjoy.scoopjoy.doctype.stock_sync_log.stock_sync_log import MAX_RESUMES, StockSyncLog  # noqa: E402
from scoopjoy.scoopjoy.report.outlet_sync_health import outlet_sync_health  # noqa: E402
from tests.integration.conftest import needs_desk_assets, run_burst_worker  # noqa: E402

SETTINGS = "ScoopJoy Settings"


@pytest.fixture
def settings():
	"""ScoopJoy Settings as a test leaves them: restored afterwards, field by field."""
	fields = [*LIMITS, "schedule", "daily_at", "alert_role"]
	before = {field: frappe.db.get_single_value(SETTINGS, field) for field in fields}

	def change(**values):
		doc = frappe.get_single(SETTINGS)
		doc.update(values)
		doc.save()
		frappe.db.commit()
		return doc

	yield change
	frappe.db.rollback()
	for field, value in before.items():
		frappe.db.set_single_value(SETTINGS, field, value)
	set_log_settings_retention(cint(setting("retention_days")))
	frappe.db.commit()


@pytest.fixture
def people(world):
	"""A Stock Manager (the default alert role) and a Stock User, removed afterwards."""
	made = {}
	for key, roles in (("manager", ["Stock Manager"]), ("clerk", ["Stock User"])):
		email = f"{world.tag.lower()}-{key}@scoopjoy.example"
		user = frappe.get_doc(
			{"doctype": "User", "email": email, "first_name": f"{world.tag} {key}", "send_welcome_email": 0}
		).insert()
		user.add_roles(*roles)
		made[key] = email
	world.commit()
	yield frappe._dict(made)
	frappe.db.rollback()
	frappe.set_user("Administrator")
	frappe.db.delete("Notification Log", {"for_user": ("in", list(made.values()))})
	for email in made.values():
		frappe.delete_doc("User", email, force=True)
	frappe.db.commit()


def bell(user: str, document_name: str) -> list[str]:
	return frappe.get_all(
		"Notification Log",
		filters={"for_user": user, "document_name": document_name, "type": "Alert"},
		pluck="subject",
	)


# ── ScoopJoy Settings ───────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
	"field, value",
	[
		("time_budget", 30),
		("time_budget", 1800),  # RQ would kill the job mid-chunk
		("chunk_seconds", 0),
		("lock_wait_timeout", -1),
		("fan_out_threshold", 5),
		("fan_out_batch", 100_000),
		("stale_after", 5),
		("retention_days", 0),
	],
)
def test_absurd_values_are_refused_with_a_clear_message_and_change_nothing(settings, field, value):
	stored = frappe.db.get_single_value(SETTINGS, field)
	doc = frappe.get_single(SETTINGS)
	doc.set(field, value)
	with pytest.raises(frappe.ValidationError, match="must be between"):
		doc.save()
	frappe.db.rollback()
	assert frappe.db.get_single_value(SETTINGS, field, cache=False) == stored


def test_daily_schedule_needs_its_time(settings):
	doc = frappe.get_single(SETTINGS)
	doc.update({"schedule": "Daily", "daily_at": None})
	with pytest.raises(frappe.ValidationError, match="time of day"):
		doc.save()


def test_the_form_sets_the_limits_and_site_config_keys_override_it(settings, site_config):
	settings(lock_wait_timeout=7, fan_out_batch=40, time_budget=900)
	assert (setting("lock_wait_timeout"), setting("fan_out_batch"), setting("time_budget")) == (7, 40, 900)
	site_config("scoopjoy_lock_wait_timeout", 3)
	assert setting("lock_wait_timeout") == 3  # the key wins over the form
	assert setting("fan_out_batch") == 40


def test_the_next_run_uses_a_changed_lock_wait_without_a_restart(world, settings):
	world.make_selling_outlet("Lock Wait", 2)
	world.commit()
	settings(lock_wait_timeout=7)
	stock_sync.process_stock_sync(world.group)
	assert frappe.db.sql("SELECT @@session.innodb_lock_wait_timeout")[0][0] == 7
	settings(lock_wait_timeout=9)
	stock_sync.process_stock_sync(world.group)
	assert frappe.db.sql("SELECT @@session.innodb_lock_wait_timeout")[0][0] == 9


def test_fan_out_threshold_and_batch_from_the_form_reach_the_workers(world, settings, queues):
	for i in range(25):
		world.make_selling_outlet(f"Fan {i:02d}", 3)
	world.commit()
	settings(fan_out_threshold=10, fan_out_batch=10)
	frappe.flags.in_test = False  # a real enqueue, run by a real worker
	try:
		stock_sync.enqueue_stock_sync(world.group)
	finally:
		frappe.flags.in_test = True
	assert run_burst_worker("long,short").returncode == 0
	frappe.db.rollback()
	[run] = world.logs()
	values = frappe.db.get_value("Stock Sync Log", run, ["status", "fan_out_jobs", "succeeded"], as_dict=True)
	assert (values.status, values.fan_out_jobs, values.succeeded) == ("Completed", 3, 25)


# ── the schedule ────────────────────────────────────────────────────────────────────────────


def test_schedule_decides_when_the_scheduler_syncs(world, settings):
	# Tomorrow: no run of all outlets exists yet in any of its slots.
	tomorrow = datetime.datetime.combine(datetime.date.today(), datetime.time()) + datetime.timedelta(days=1)
	at = lambda hours, minutes: tomorrow + datetime.timedelta(hours=hours, minutes=minutes)  # noqa: E731
	assert not stock_sync.scheduled_sync_due("Off", at(3, 20))
	for mode in ("Every 5 minutes", "Every 15 minutes", "Hourly"):
		assert stock_sync.scheduled_sync_due(mode, at(3, 20)), mode

	settings(schedule="Daily", daily_at="01:00:00")
	assert not stock_sync.scheduled_sync_due("Daily", at(0, 30)), "too early"
	assert stock_sync.scheduled_sync_due("Daily", at(2, 0)), "its time of day has come: nothing ran since"

	settings(daily_at="00:00:00")
	run = frappe.new_doc("Stock Sync Log").queue(None, "Scheduler", "test-daily")  # a sync of all outlets
	world.extra_logs.append(run.name)
	assert not stock_sync.scheduled_sync_due("Daily", now_datetime()), "it ran today already"
	assert stock_sync.scheduled_sync_due("Daily", now_datetime() + datetime.timedelta(days=1))


def test_a_run_longer_than_its_slot_skips_slots_instead_of_piling_up(world, settings, queues):
	"""Every 15 minutes: the slot's run is still running when the next slot comes (the tick queues
	nothing), and it ends inside that slot, which it takes: the next run is the slot after."""
	frappe.flags.in_test = False
	settings(schedule="Every 15 minutes")
	run = frappe.new_doc("Stock Sync Log").queue(None, "Scheduler", stock_sync.sync_job_id(None))
	world.extra_logs.append(run.name)
	frappe.db.set_value("Stock Sync Log", run.name, "status", "Running")
	frappe.db.commit()
	started = frappe.db.get_value("Stock Sync Log", run.name, "creation")
	slot = stock_sync.slot_start("Every 15 minutes", started)
	every_15 = datetime.timedelta(minutes=15)
	assert not stock_sync.scheduled_sync_due("Every 15 minutes", started), "this slot has its run"

	next_slot = slot + every_15
	assert stock_sync.scheduled_sync_due("Every 15 minutes", next_slot)
	with frappe_now(next_slot):
		stock_sync.run_scheduled_sync()  # the run is alive (its job is queued): nothing more is queued
	frappe.db.commit()
	assert frappe.db.count("Stock Sync Log", {"outlet_group": "All", "creation": (">=", started)}) == 1

	frappe.db.set_value("Stock Sync Log", run.name, "ended_on", next_slot + datetime.timedelta(minutes=1))
	frappe.db.commit()
	assert not stock_sync.scheduled_sync_due("Every 15 minutes", next_slot + datetime.timedelta(minutes=5))
	assert stock_sync.scheduled_sync_due("Every 15 minutes", next_slot + every_15)


def frappe_now(moment):
	from unittest import mock

	return mock.patch.object(stock_sync, "now_datetime", return_value=moment)


def test_schedule_off_starts_nothing_not_even_a_resume(world, settings, site_config):
	outlet = world.make_selling_outlet("Resume", 2)
	world.commit()
	run = frappe.new_doc("Stock Sync Log").queue(world.group, "CLI", stock_sync.sync_job_id(world.group))
	run.reload()
	run.interrupt("test: its worker died")
	frappe.db.commit()

	settings(schedule="Off")
	stock_sync.run_scheduled_sync()
	stock_sync.resume_interrupted_runs()
	assert frappe.db.get_value("Stock Sync Log", run.name, "status") == "Interrupted"
	assert frappe.db.count("Stock Sync Log", {"outlet_group": "All", "creation": (">=", run.creation)}) == 0

	settings(schedule="Hourly")
	stock_sync.resume_interrupted_runs()  # runs inline in tests
	frappe.db.rollback()
	assert frappe.db.get_value("Stock Sync Log", run.name, "status") == "Completed"
	assert world.unsynced(outlet.warehouse) == 0


# ── health, alerts, workspace figures ───────────────────────────────────────────────────────


@pytest.fixture
def mixed_world(world, people, settings):
	"""Five outlets, one per state, after three runs of their group:
	healthy (synced every run), failing (failed only the last run), chronic (failed all three),
	backlog (synced, then an invoice waiting for three hours), never (added after the runs)."""
	settings(alert_role="Stock Manager", schedule="Hourly")
	o = frappe._dict()
	for key in ("healthy", "failing", "chronic", "backlog"):
		o[key] = world.make_outlet(key.title(), world.make_warehouse(key.title()))
		world.make_pending_invoices(o[key].warehouse, 2)
	frappe.db.set_value("Warehouse", o.chronic.warehouse, "disabled", 1)
	world.commit()
	runs = []
	for i in range(CHRONIC_FAILURES):
		if i == CHRONIC_FAILURES - 1:  # its two invoices of this hour stay pending
			frappe.db.set_value("Warehouse", o.failing.warehouse, "disabled", 1)
			world.make_pending_invoices(o.failing.warehouse, 2)
		world.make_pending_invoices(o.healthy.warehouse, 1)
		world.commit()
		stock_sync.process_stock_sync(world.group)
		runs.append(world.logs()[-1])
	[late] = world.make_pending_invoices(o.backlog.warehouse, 1)
	frappe.db.set_value(
		"POS Invoice", late, "creation", add_to_date(now_datetime(), hours=-3), update_modified=False
	)
	o.never = world.make_outlet("Never", world.make_warehouse("Never"))
	world.make_pending_invoices(o.never.warehouse, 4)
	world.commit()
	return frappe._dict(outlets=o, runs=runs, people=people)


def health(**filters) -> tuple[list, dict]:
	_columns, rows, _message, chart, _summary = outlet_sync_health.execute(frappe._dict(filters))
	return rows, chart


def test_health_report_has_a_right_row_per_outlet_worst_first(world, mixed_world):
	o, runs = mixed_world.outlets, mixed_world.runs
	rows, chart = health(outlet_group=world.group)
	by_outlet = {row.outlet: row for row in rows}
	assert [row.outlet for row in rows] == [
		o.chronic.name,
		o.failing.name,
		o.backlog.name,
		o.never.name,
		o.healthy.name,
	]
	assert [by_outlet[o[k].name].state for k in ("chronic", "failing", "backlog", "never", "healthy")] == [
		"Failing Repeatedly",
		"Failing",
		"Backlog",
		"Never Synced",
		"Healthy",
	]
	chronic, failing = by_outlet[o.chronic.name], by_outlet[o.failing.name]
	assert (chronic.consecutive_failures, chronic.last_success_on, chronic.last_error_run) == (
		3,
		None,
		runs[2],
	)
	assert "is disabled" in chronic.last_error
	assert (failing.consecutive_failures, failing.last_run, failing.last_error_run) == (1, runs[2], runs[2])
	assert failing.last_success_on is not None
	assert frappe.db.get_value("Outlet Sync Status", o.failing.name, "last_success_run") == runs[1]
	assert (by_outlet[o.failing.name].pending_invoices, by_outlet[o.never.name].pending_invoices) == (2, 4)
	backlog = by_outlet[o.backlog.name]
	assert backlog.pending_invoices == 1 and 3 * 3600 - 60 < backlog.oldest_pending_age < 3 * 3600 + 600
	healthy = by_outlet[o.healthy.name]
	assert (healthy.pending_invoices, healthy.last_result, healthy.last_success_run) == (0, "Synced", runs[2])
	assert healthy.warehouse == o.healthy.warehouse and healthy.territory == world.territory

	assert dict(zip(chart["data"]["labels"], chart["data"]["datasets"][0]["values"], strict=True)) == {
		"Failing Repeatedly": 1,
		"Failing": 1,
		"Backlog": 1,
		"Never Synced": 1,
		"Healthy": 1,
	}
	problems, _chart = health(outlet_group=world.group, only_problems=1)
	assert [row.outlet for row in problems] == [row.outlet for row in rows][:4]
	assert health(outlet_group=world.group, territory="No Such Territory")[0] == []


def test_failed_runs_alert_the_alert_role_only_and_a_chronic_outlet_once(world, mixed_world):
	o, runs, people = mixed_world.outlets, mixed_world.runs, mixed_world.people
	for run in runs:
		[subject] = bell(people.manager, run)
		assert "Completed with Errors" in subject and o.chronic.name in subject
		assert bell(people.clerk, run) == []
	assert (
		o.failing.name in bell(people.manager, runs[2])[0]
		and o.failing.name not in bell(people.manager, runs[0])[0]
	)
	[chronic] = bell(people.manager, o.chronic.name)
	assert f"failed {CHRONIC_FAILURES} stock syncs in a row" in chronic
	assert bell(people.clerk, o.chronic.name) == []

	stock_sync.process_stock_sync(world.group)  # a fourth failure: no second chronic alert
	assert len(bell(people.manager, o.chronic.name)) == 1
	assert frappe.db.get_value("Outlet Sync Status", o.chronic.name, "consecutive_failures") == 4

	frappe.db.set_value("Warehouse", o.chronic.warehouse, "disabled", 0)  # fixed: the streak ends
	frappe.db.set_value("Warehouse", o.failing.warehouse, "disabled", 0)
	world.commit()
	stock_sync.process_stock_sync(world.group)
	status = frappe.db.get_value(
		"Outlet Sync Status", o.chronic.name, ["consecutive_failures", "chronic_alert_sent"], as_dict=True
	)
	assert (status.consecutive_failures, status.chronic_alert_sent) == (0, 0)
	assert bell(people.manager, world.logs()[-1]) == []  # a clean run alerts nobody


def test_an_outlet_with_many_failures_names_the_first_few_and_counts_the_rest(world, people, settings):
	settings(alert_role="Stock Manager")
	for i in range(8):
		world.make_outlet(f"Broken {i}", None)
	world.commit()
	stock_sync.process_stock_sync(world.group)
	[run] = world.logs()
	[subject] = bell(people.manager, run)
	assert "Failed: 8 of 8 outlets failed" in subject and "and 3 more" in subject


def test_a_run_given_up_alerts_even_with_no_failed_outlet(world, people, settings):
	settings(alert_role="Stock Manager")
	run = frappe.new_doc("Stock Sync Log").queue(
		world.group, "Scheduler", stock_sync.sync_job_id(world.group)
	)
	run.reload()
	run.db_set("resume_count", MAX_RESUMES)
	run.interrupt("test: its worker died again")
	frappe.db.commit()
	[subject] = bell(people.manager, run.name)
	assert "Failed" in subject and "Given up" in subject


def test_no_alert_role_means_no_alerts(world, people, settings):
	settings(alert_role=None)
	world.make_outlet("Broken", None)
	world.commit()
	stock_sync.process_stock_sync(world.group)
	assert bell(people.manager, world.logs()[-1]) == []


def test_number_cards_and_chart_count_what_the_runs_did(world, settings):
	settings(schedule="Hourly")
	before_pending = dashboard.pending_pos_invoices()["value"]
	before_failing = dashboard.failing_outlets()["value"]
	before_chart = dashboard.stock_sync_per_day()
	good = world.make_outlet("Good", world.make_warehouse("Good"))
	world.make_pending_invoices(good.warehouse, 5)
	bad = world.make_outlet("Bad", world.make_warehouse("Bad", disabled=1))
	world.make_pending_invoices(bad.warehouse, 2)
	suspended = world.make_outlet("Suspended", world.make_warehouse("Suspended"), status="Suspended")
	world.make_pending_invoices(suspended.warehouse, 9)  # not an active outlet: not pending for the sync
	world.commit()
	assert dashboard.pending_pos_invoices()["value"] == before_pending + 7

	stock_sync.process_stock_sync(world.group)
	assert dashboard.pending_pos_invoices()["value"] == before_pending + 2
	assert dashboard.failing_outlets()["value"] == before_failing + 1
	chart = dashboard.stock_sync_per_day()
	assert len(chart["labels"]) == dashboard.CHART_DAYS
	synced, failed = (dataset["values"] for dataset in chart["datasets"])
	before_synced, before_failed = (dataset["values"] for dataset in before_chart["datasets"])
	assert (synced[-1] - before_synced[-1], failed[-1] - before_failed[-1]) == (5, 1)
	assert synced[:-1] == before_synced[:-1]

	run = frappe.new_doc("Stock Sync Log").queue(None, "CLI", "test-cards")  # the latest run of All
	world.extra_logs.append(run.name)
	run.db_set({"status": "Completed", "duration": 75})
	assert dashboard.last_run_status() == "Completed"
	assert dashboard.last_run_duration() == {
		"value": 75,
		"fieldtype": "Duration",
		"route": ["Form", "Stock Sync Log", run.name],
	}


def test_workspace_figures_need_read_permission_on_stock_sync_log(world, people):
	frappe.set_user(people.clerk)
	with pytest.raises(frappe.PermissionError):
		dashboard.failing_outlets()
	frappe.set_user(people.manager)
	assert dashboard.failing_outlets()["fieldtype"] == "Int"


def test_the_workspace_ships_its_cards_chart_and_report():
	workspace = frappe.get_doc("Workspace", "ScoopJoy")
	cards = {row.number_card_name for row in workspace.number_cards}
	assert cards == {"Pending POS Invoices", "Outlets Failing", "Last Sync Status", "Last Sync Duration"}
	for card in cards:
		doc = frappe.get_doc("Number Card", card)
		assert doc.type == "Custom" and frappe.get_attr(doc.method)
	assert [row.chart_name for row in workspace.charts] == ["Stock Sync per Day"]
	assert {row.role for row in workspace.roles} == {"System Manager", "Stock Manager"}
	assert frappe.db.get_value("Report", "Outlet Sync Health", "report_type") == "Script Report"


# ── bounded history ─────────────────────────────────────────────────────────────────────────


def age(run: str, days: int):
	log = frappe.qb.DocType("Stock Sync Log")
	frappe.qb.update(log).set(log.modified, add_days(now_datetime(), -days)).where(log.name == run).run()


def test_retention_deletes_old_runs_with_their_rows_and_keeps_the_last_success(world, settings):
	outlet = world.make_selling_outlet("Kept", 3)
	world.commit()
	stock_sync.process_stock_sync(world.group)  # synced
	frappe.db.set_value("Warehouse", outlet.warehouse, "disabled", 1)
	world.commit()
	stock_sync.process_stock_sync(world.group)  # failed
	old, recent = world.logs()
	success_on = frappe.db.get_value("Outlet Sync Status", outlet.name, "last_success_on")
	interrupted = frappe.new_doc("Stock Sync Log").queue(world.make_group("-int"), "CLI", "test-interrupted")
	interrupted.reload()
	interrupted.interrupt("test")
	for run in (old, interrupted.name):
		age(run, 100)
	age(recent, 20)
	frappe.db.commit()
	other_rows = frappe.db.count("Stock Sync Log Outlet", {"parent": ("not in", [old])})

	StockSyncLog.clear_old_logs(days=90)

	assert not frappe.db.exists("Stock Sync Log", old)
	assert frappe.db.count("Stock Sync Log Outlet", {"parent": old}) == 0
	assert frappe.db.count("Stock Sync Log Outlet") == other_rows  # nothing else went
	assert frappe.db.exists("Stock Sync Log", recent) and frappe.db.exists("Stock Sync Log", interrupted.name)
	status = frappe.db.get_value("Outlet Sync Status", outlet.name, ["*"], as_dict=True)
	assert (status.last_success_on, status.last_success_run, status.last_run) == (success_on, None, recent)
	[row] = health(outlet_group=world.group)[0]
	assert row.last_success_on == success_on  # the report still knows


def test_retention_is_one_setting_shared_with_log_settings(settings):
	from frappe.core.doctype.log_settings.log_settings import _supports_log_clearing

	def log_settings_days():
		return {r.ref_doctype: r.days for r in frappe.get_doc("Log Settings").logs_to_clear}.get(
			"Stock Sync Log"
		)

	assert _supports_log_clearing("Stock Sync Log")
	assert frappe.get_hooks("default_log_clearing_doctypes")["Stock Sync Log"] == [90]
	settings(retention_days=30)
	assert log_settings_days() == 30
	log_settings = frappe.get_doc("Log Settings")
	for row in log_settings.logs_to_clear:
		if row.ref_doctype == "Stock Sync Log":
			row.days = 45
	log_settings.save()
	assert frappe.db.get_single_value(SETTINGS, "retention_days", cache=False) == 45


def test_frappes_daily_clean_up_clears_stock_sync_logs(world, settings):
	from frappe.core.doctype.log_settings.log_settings import run_log_clean_up

	settings(retention_days=60)
	world.make_selling_outlet("Clean", 1)
	world.commit()
	stock_sync.process_stock_sync(world.group)
	[run] = world.logs()
	age(run, 61)
	frappe.db.commit()
	run_log_clean_up()
	assert not frappe.db.exists("Stock Sync Log", run)


def test_a_site_that_saved_the_settings_before_gets_the_new_fields_defaults(settings):
	from scoopjoy.patches import scoopjoy_settings_defaults

	frappe.db.set_single_value(SETTINGS, "stock_posting", "Mark invoices only")  # saved before
	frappe.db.delete(
		"Singles", {"doctype": SETTINGS, "field": ("in", ["schedule", "time_budget", "alert_role"])}
	)
	scoopjoy_settings_defaults.execute()
	values = [
		frappe.db.get_single_value(SETTINGS, f, cache=False)
		for f in ("schedule", "time_budget", "alert_role")
	]
	assert values == ["Hourly", 1500, "Stock Manager"]
	assert frappe.db.get_single_value(SETTINGS, "stock_posting", cache=False) == "Mark invoices only"


@needs_desk_assets  # Frappe's email rendering reads the built bundles (bundled_asset)
def test_the_readmes_email_notification_on_stock_sync_log_sends_mail(world, people, settings):
	"""The README's recipe for email alerts: a Frappe Notification on Stock Sync Log's status. The site
	needs an outgoing email account, as for any Frappe email (tests never connect to its server)."""
	account = frappe.get_doc(
		{
			"doctype": "Email Account",
			"email_account_name": f"{world.tag} outgoing",
			"email_id": f"{world.tag.lower()}-sync@scoopjoy.example",
			"enable_outgoing": 1,
			"default_outgoing": 1,
			"smtp_server": "localhost",
			"no_smtp_authentication": 1,
		}
	).insert()
	notification = frappe.get_doc(
		{
			"doctype": "Notification",
			"name": f"{world.tag} failed syncs",
			"subject": "Stock sync {{ doc.name }}: {{ doc.status }}",
			"document_type": "Stock Sync Log",
			"event": "Value Change",
			"value_changed": "status",
			"condition": 'doc.status in ("Completed with Errors", "Failed")',
			"channel": "Email",
			"recipients": [{"receiver_by_role": "Stock Manager"}],
			"message": "{{ doc.summary }}",
		}
	).insert()
	world.commit()
	try:
		world.make_outlet("Broken", None)
		world.make_outlet("Good", world.make_warehouse("Good"))
		world.commit()
		stock_sync.process_stock_sync(world.group)
		[run] = world.logs()
		mails = frappe.get_all(
			"Email Queue",
			filters={"reference_doctype": "Stock Sync Log", "reference_name": run},
			fields=["name", "message"],
		)
		assert len(mails) == 1 and f"Stock sync {run}: Completed with Errors" in mails[0].message
		recipients = frappe.get_all(
			"Email Queue Recipient", filters={"parent": mails[0].name}, pluck="recipient"
		)
		assert people.manager in recipients and people.clerk not in recipients
	finally:
		frappe.db.rollback()
		frappe.db.delete(
			"Email Queue", {"reference_doctype": "Stock Sync Log", "reference_name": ("in", world.logs())}
		)
		frappe.delete_doc("Notification", notification.name, force=True)
		frappe.delete_doc("Email Account", account.name, force=True)
		frappe.db.commit()
