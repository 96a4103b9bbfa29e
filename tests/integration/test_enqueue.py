"""Who may start a sync, what bad input does, and how a second request is deduplicated."""

import pytest

frappe = pytest.importorskip("frappe", reason="Frappe tier skipped: no Frappe bench (FRAPPE_BENCH)")

from frappe.utils.background_jobs import create_job_id  # noqa: E402

from scoopjoy import stock_sync  # noqa: E402
from tests.integration.world import scoopjoy_job_ids  # noqa: E402


def make_user(world, roles: list[str]) -> str:
	email = f"{world.tag.lower()}-{len(roles)}@scoopjoy.example"
	if not frappe.db.exists("User", email):
		user = frappe.get_doc(
			{"doctype": "User", "email": email, "first_name": world.tag, "send_welcome_email": 0}
		)
		user.insert()
		user.add_roles(*roles)
	world.users = [*getattr(world, "users", []), email]
	return email


@pytest.fixture
def users(world):
	yield frappe._dict(
		clerk=make_user(world, ["Stock User"]), manager=make_user(world, ["Stock Manager", "Stock User"])
	)
	frappe.set_user("Administrator")
	for email in world.users:
		frappe.delete_doc("User", email, force=True)
	frappe.db.commit()


def test_user_without_sync_role_is_refused(world, users, queues):
	frappe.flags.in_test = False
	frappe.set_user(users.clerk)
	with pytest.raises(frappe.PermissionError):
		stock_sync.enqueue_stock_sync(world.group)
	frappe.db.commit()
	assert scoopjoy_job_ids("long") == []


def test_guest_is_refused(world, queues):
	frappe.flags.in_test = False
	frappe.set_user("Guest")
	with pytest.raises(frappe.PermissionError):
		stock_sync.enqueue_stock_sync()
	frappe.db.commit()
	assert scoopjoy_job_ids("long") == []


def test_stock_manager_may_sync(world, users, queues):
	frappe.flags.in_test = False
	frappe.set_user(users.manager)
	reply = stock_sync.enqueue_stock_sync(world.group)
	frappe.db.commit()
	assert reply["job_id"] == f"scoopjoy_stock_sync::{world.group}"
	assert "queued" in reply["message"]
	assert scoopjoy_job_ids("long") == [create_job_id(f"scoopjoy_stock_sync::{world.group}")]


def test_unknown_outlet_group_is_refused_and_queues_nothing(queues):
	frappe.flags.in_test = False
	with pytest.raises(frappe.DoesNotExistError, match="does not exist"):
		stock_sync.enqueue_stock_sync("No Such Group")
	frappe.db.commit()
	assert scoopjoy_job_ids("long") == []


def test_many_clicks_while_queued_leave_one_job(world, queues):
	frappe.flags.in_test = False
	replies = []
	for _ in range(25):  # each call is its own request: enqueue after commit, then the next click
		replies.append(stock_sync.enqueue_stock_sync(world.group))
		frappe.db.commit()
	assert scoopjoy_job_ids("long") == [create_job_id(f"scoopjoy_stock_sync::{world.group}")]
	assert "queued" in replies[0]["message"]
	assert all("already running" in reply["message"] for reply in replies[1:])
	# Another group is another run.
	world.extra_logs.append(stock_sync.enqueue_stock_sync()["sync_log"])
	frappe.db.commit()
	assert len(scoopjoy_job_ids("long")) == 2
