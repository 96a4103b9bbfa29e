"""Desk in a real headless Chromium against a running bench: web server, Socket.IO server and worker.

Skipped (with the reason) when Playwright, Debian's chromium or the bench's built Desk assets are missing.
Screenshots go to test-artifacts/screenshots/.
"""

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

frappe = pytest.importorskip("frappe", reason="Frappe tier skipped: no Frappe bench (FRAPPE_BENCH)")
sync_api = pytest.importorskip(
	"playwright.sync_api", reason="browser test skipped: playwright is not installed"
)

from tests.integration.conftest import BENCH, SITE, bench_command, kill_9, start_worker  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
PORT = 8000
BASE = f"http://127.0.0.1:{PORT}"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PASSWORD = "Scoop-Joy-Test-42!"

pytestmark = [
	pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"browser test skipped: no {CHROMIUM}"),
	pytest.mark.skipif(
		not (BENCH / "sites" / "assets" / "assets.json").exists(),
		reason="browser test skipped: the bench's Desk assets are not built (bench build)",
	),
]


def wait_for_http(url: str, timeout: float = 60):
	deadline = time.monotonic() + timeout
	while time.monotonic() < deadline:
		try:
			with urllib.request.urlopen(url, timeout=2) as response:
				return json.loads(response.read())
		except OSError:
			time.sleep(0.3)
	raise AssertionError(f"{url} did not answer within {timeout} s")


@pytest.fixture(scope="module")
def desk():
	"""Web (bare `bench serve`, hence DEV_SERVER), Socket.IO and a worker, stopped afterwards."""
	assert bench_command("use", SITE).returncode == 0  # lets the Socket.IO server resolve the site
	env = {k: v for k, v in os.environ.items() if k != "CI"}
	web = subprocess.Popen(
		["bench", "--site", SITE, "serve", "--port", str(PORT), "--noreload"],
		cwd=BENCH,
		env={**env, "DEV_SERVER": "true"},
		stdout=subprocess.DEVNULL,
		stderr=subprocess.DEVNULL,
	)
	socketio = subprocess.Popen(
		[shutil.which("node") or "node", "apps/frappe/socketio.js"],
		cwd=BENCH,
		stdout=subprocess.DEVNULL,
		stderr=subprocess.DEVNULL,
	)
	worker = start_worker("long,short,default")
	try:
		assert wait_for_http(f"{BASE}/api/method/ping")["message"] == "pong"
		yield BASE
	finally:
		for process in (web, socketio, worker):
			kill_9(process)


@pytest.fixture
def users(world):
	made = {}
	for key, roles in (("manager", ["Stock Manager", "Stock User"]), ("clerk", ["Stock User"])):
		email = f"{world.tag.lower()}-{key}@scoopjoy.example"
		user = frappe.get_doc(
			{"doctype": "User", "email": email, "first_name": f"{world.tag} {key}", "send_welcome_email": 0}
		).insert()
		user.add_roles(*roles)
		frappe.utils.password.update_password(email, PASSWORD)
		made[key] = email
	world.commit()
	yield frappe._dict(made)
	frappe.set_user("Administrator")
	for email in made.values():
		frappe.delete_doc("User", email, force=True)
	frappe.db.commit()


@pytest.fixture
def browser():
	SCREENSHOTS.mkdir(parents=True, exist_ok=True)
	with sync_api.sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
		context = playwright.chromium.launch_persistent_context(
			profile,
			executable_path=CHROMIUM,
			headless=True,
			viewport={"width": 1400, "height": 900},
			args=[
				"--no-sandbox",
				"--disable-gpu",
				"--disable-background-networking",
				"--disable-component-update",
				"--disable-sync",
				"--no-first-run",
			],
		)
		yield context
		context.close()


def log_in(context, email: str):
	response = context.request.post(f"{BASE}/api/method/login", form={"usr": email, "pwd": PASSWORD})
	assert response.ok, response.text()


def open_desk_page(context, path: str):
	page = context.pages[0] if context.pages else context.new_page()
	page.goto(f"{BASE}{path}")
	page.wait_for_function("() => window.frappe && frappe.boot && frappe.realtime && frappe.realtime.socket")
	return page


def test_stock_manager_syncs_from_the_list_and_watches_it(desk, world, users, browser, queues):
	for i in range(300):
		outlet = world.make_outlet(f"Desk {i:03d}", world.make_warehouse(f"Desk {i:03d}"))
		world.make_pending_invoices(outlet.warehouse, 5)
	broken = world.make_outlet("Desk Broken", None)
	world.commit()

	log_in(browser, users.manager)
	page = open_desk_page(browser, "/app/franchise-agreement")
	page.evaluate(
		"""() => {
			window.sj = { progress: [], done: [] };
			frappe.realtime.on("progress", (d) => window.sj.progress.push(d));
			frappe.realtime.on("scoopjoy_stock_sync_complete", (d) => window.sj.done.push(d));
		}"""
	)
	page.screenshot(path=SCREENSHOTS / "1-list-with-sync-button.png")
	page.get_by_role("button", name="Sync Stock").click()
	dialog = page.locator(".modal.show")
	dialog.locator('[data-fieldname="outlet_group"] input').fill(world.group)
	page.wait_for_timeout(500)
	page.screenshot(path=SCREENSHOTS / "1-sync-dialog.png")
	dialog.get_by_role("button", name="Start").click()
	page.locator("#alert-container").get_by_text("has been queued").wait_for(timeout=15000)

	# The progress dialog advances: sample what it shows until the run is done.
	seen, shot = [], False
	deadline = time.monotonic() + 120
	while time.monotonic() < deadline and not page.evaluate("() => window.sj.done.length"):
		state = page.evaluate(
			"""() => frappe.cur_progress && frappe.cur_progress.is_visible
				? [frappe.cur_progress.title, frappe.cur_progress.percent,
					frappe.cur_progress.progress.find(".description").text()]
				: null"""
		)
		if state and state not in seen:
			seen.append(state)
			if not shot and state[1] >= 20:
				page.screenshot(path=SCREENSHOTS / "2-progress-dialog.png")
				shot = True
		page.wait_for_timeout(50)
	assert len({percent for _, percent, _ in seen}) >= 2, seen
	assert all(title == "Syncing Stock" for title, _, _ in seen)
	assert any("/301)" in description for _, _, description in seen)

	[done] = page.evaluate("() => window.sj.done")
	assert (done["total"], done["success"], done["errors"]) == (301, 300, 1)
	progress = page.evaluate("() => window.sj.progress")
	assert 2 <= len(progress) <= 101 and progress[-1]["percent"] == 100  # throttled, final 100 % kept
	alert = page.locator("#alert-container").get_by_text("finished: 300 of 301 outlets synced, 1 failed")
	alert.wait_for(timeout=10000)
	page.screenshot(path=SCREENSHOTS / "3-completion-alert.png")

	page.locator("#alert-container").get_by_role("link", name=done["sync_log"]).click()
	page.wait_for_url(f"**/app/stock-sync-log/{done['sync_log']}")
	page.get_by_text("301 of 301 outlets processed").wait_for(timeout=30000)
	page.get_by_text(broken.franchise_name).first.wait_for()
	page.get_by_text("has no franchise warehouse configured").first.wait_for()
	page.screenshot(path=SCREENSHOTS / "4-stock-sync-log.png", full_page=True)

	page.goto(f"{BASE}/app/stock-sync-log")
	page.locator(".list-row").first.wait_for()
	page.screenshot(path=SCREENSHOTS / "5-stock-sync-log-list.png")
	page.goto(f"{BASE}/app/scoopjoy")
	page.locator(".scoopjoy-latest-sync").get_by_text(done["sync_log"]).wait_for(timeout=15000)
	page.screenshot(path=SCREENSHOTS / "6-workspace.png")


def test_user_without_the_role_sees_no_sync_button(desk, users, browser):
	log_in(browser, users.clerk)
	page = open_desk_page(browser, "/app/franchise-agreement")
	page.locator(".frappe-list").wait_for()
	page.wait_for_timeout(1000)  # let the list script's onload run
	assert page.get_by_role("button", name="Sync Stock").count() == 0
	page.screenshot(path=SCREENSHOTS / "7-list-without-role.png")
