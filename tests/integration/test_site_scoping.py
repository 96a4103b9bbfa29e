"""Named locks are server-wide in MariaDB: the app's are scoped to the site, a holder the site cannot see
as its own is alive and never ended, a KILL that fails is reported, a worker that finds its run taken says
so, and migrate refuses while a worker runs. (Two real sites at once: tests/multi_site.)"""

import contextlib

import pytest

frappe = pytest.importorskip("frappe", reason="Frappe tier skipped: no Frappe bench (FRAPPE_BENCH)")

import pymysql  # noqa: E402

from scoopjoy import install, named_lock, stock_sync  # noqa: E402
from tests.integration.world import clear_scoopjoy_jobs  # noqa: E402

MARIADB_SOCKET = "/run/mysqld/mysqld.sock"


def other_user_connection() -> pymysql.Connection:
	"""A connection of another database user (root, as .ci/run uses it): what another site's worker,
	or a definer's routine, looks like to this site's user."""
	return pymysql.connect(unix_socket=MARIADB_SOCKET, user="root", autocommit=True)


def site_user_connection() -> pymysql.Connection:
	"""Another connection of this site's own database user: another worker of this site."""
	return pymysql.connect(
		host=frappe.conf.db_host or "127.0.0.1",
		port=int(frappe.conf.db_port or 3306),
		user=frappe.conf.db_name,
		password=frappe.conf.db_password,
		database=frappe.conf.db_name,
		autocommit=True,
	)


def hold(connection: pymysql.Connection, lock: str) -> int:
	"""Take a lock (by its server-wide name) on that connection; its connection id."""
	with connection.cursor() as cursor:
		cursor.execute("SELECT GET_LOCK(%s, 0), CONNECTION_ID()", (lock,))
		got, connection_id = cursor.fetchone()
	assert got == 1, lock
	return connection_id


def still_connected(connection: pymysql.Connection) -> bool:
	with connection.cursor() as cursor:
		cursor.execute("SELECT 1")
		return cursor.fetchone() == (1,)


@pytest.fixture
def running_run(world, queues):
	"""A run of the world's group that says Running, with no worker and no job: whoever holds its lock
	decides whether it is alive."""
	world.make_selling_outlet("A", 2)
	world.commit()
	frappe.flags.in_test = False  # queue it, do not run it inline
	name = stock_sync.enqueue_stock_sync(world.group)["sync_log"]
	frappe.db.commit()
	clear_scoopjoy_jobs()
	frappe.db.set_value("Stock Sync Log", name, {"status": "Running", "total_outlets": 1})
	frappe.db.commit()
	return frappe.get_doc("Stock Sync Log", name)


@pytest.fixture
def connections():
	opened = []

	def open_(make):
		opened.append(make())
		return opened[-1]

	yield open_
	for connection in opened:
		with contextlib.suppress(Exception):
			connection.close()


def state_of(run) -> tuple:
	return frappe.db.get_value("Stock Sync Log", run.name, ["status", "resume_count", "processed"])


def test_lock_names_carry_the_sites_database_and_fit_mariadbs_limit(running_run):
	assert running_run.acquire()
	try:
		own = frappe.db.sql("SELECT CONNECTION_ID()")[0][0]
		scoped = f"{frappe.conf.db_name}:scoopjoy_run::{running_run.name}"
		assert frappe.db.sql("SELECT IS_USED_LOCK(%s)", scoped)[0][0] == own
		assert frappe.db.sql("SELECT IS_USED_LOCK(%s)", running_run.lock_name)[0][0] is None
	finally:
		running_run.release()
	long_name = "scoopjoy_stock_sync::" + "a very long outlet group name " * 3
	assert len(named_lock.site_scoped(long_name)) <= named_lock.MAX_NAME
	assert named_lock.site_scoped(long_name) != named_lock.site_scoped(long_name + "x")


def test_another_sites_enqueue_lock_does_not_make_this_site_wait(world, queues, connections):
	world.make_selling_outlet("A", 1)
	world.commit()
	other = connections(other_user_connection)
	hold(other, "scoopjoy_enqueue")  # the name every site shared before
	hold(other, "_someothersitedb:scoopjoy_enqueue")
	frappe.flags.in_test = False
	reply = stock_sync.enqueue_stock_sync(world.group)  # would wait 30 s and refuse before
	frappe.db.commit()
	assert "queued" in reply["message"]


def test_a_holder_the_site_cannot_see_is_alive_and_left_alone(running_run, connections):
	other = connections(other_user_connection)
	hold(other, named_lock.site_scoped(running_run.lock_name))
	before = state_of(running_run)

	assert running_run.liveness() == "unseen"
	frappe.flags.in_test = False
	reply = stock_sync.enqueue_stock_sync(running_run.outlet_group)
	frappe.db.commit()

	assert reply["sync_log"] == running_run.name
	assert "cannot see" in reply["message"] and "left alone" in reply["message"]
	assert state_of(running_run) == before
	assert still_connected(other)


def test_a_failing_kill_is_reported_and_changes_nothing(running_run, connections, monkeypatch):
	"""The holder is taken for one of the site's own, frozen (as PROCESSLIST showed a worker inside a
	definer's trigger, or with a shared database user): MariaDB refuses the KILL (1095)."""
	other = connections(other_user_connection)
	holder = hold(other, named_lock.site_scoped(running_run.lock_name))
	seen = named_lock.holder_idle_for
	monkeypatch.setattr(named_lock, "holder_idle_for", lambda c: 10_000.0 if c == holder else seen(c))
	before = state_of(running_run)
	errors_before = frappe.db.count("Error Log", {"reference_name": running_run.name})

	frappe.flags.in_test = False
	reply = stock_sync.enqueue_stock_sync(running_run.outlet_group)
	frappe.db.commit()

	assert reply["sync_log"] == running_run.name
	assert "could not be ended" in reply["message"] and "not owner of thread" in reply["message"]
	assert state_of(running_run) == before
	assert frappe.db.count("Error Log", {"reference_name": running_run.name}) == errors_before + 1
	assert still_connected(other)


def test_a_worker_that_finds_its_run_held_says_so(running_run, connections):
	mine = connections(site_user_connection)
	holder = hold(mine, named_lock.site_scoped(running_run.lock_name))
	before = state_of(running_run)

	stock_sync.process_stock_sync(sync_log=running_run.name)

	assert state_of(running_run) == before
	comments = frappe.get_all(
		"Comment",
		filters={"reference_doctype": "Stock Sync Log", "reference_name": running_run.name},
		pluck="content",
	)
	assert any(f"database connection {holder}" in c for c in comments), comments

	# Held by a connection the site cannot see: nothing on the record (it may not be ours), a log line.
	mine.close()
	other = connections(other_user_connection)
	hold(other, named_lock.site_scoped(running_run.lock_name))
	stock_sync.process_stock_sync(sync_log=running_run.name)
	assert state_of(running_run) == before
	assert len(
		frappe.get_all(
			"Comment", filters={"reference_doctype": "Stock Sync Log", "reference_name": running_run.name}
		)
	) == len(comments)


@pytest.mark.parametrize("lock", ["scoped", "before scoping"])
def test_migrate_refuses_while_a_worker_of_this_site_runs(running_run, connections, lock):
	name = running_run.lock_name
	mine = connections(site_user_connection)
	hold(mine, named_lock.site_scoped(name) if lock == "scoped" else name)
	with pytest.raises(frappe.ValidationError, match=f"Stock sync {running_run.name} is running"):
		install.before_migrate()
	mine.close()
	install.before_migrate()  # the worker is gone: migrate goes on


def test_another_sites_run_of_the_same_name_does_not_stop_migrate(running_run, connections):
	other = connections(other_user_connection)
	hold(other, running_run.lock_name)  # a worker of the release before, on another site
	assert running_run.liveness() == "dead"
	install.before_migrate()
