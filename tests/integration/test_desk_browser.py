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
	for key, roles in (
		("manager", ["Stock Manager", "Stock User"]),
		("clerk", ["Stock User"]),
		("admin", ["System Manager", "Stock Manager"]),
	):
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
		world.make_selling_outlet(f"Desk {i:03d}", 5)
	broken = world.make_outlet("Desk Broken", None)
	world.commit()

	log_in(browser, users.manager)
	page = open_desk_page(browser, "/app/franchise-agreement")
	# Record, inside the page, every realtime message and what the progress dialog shows.
	page.evaluate(
		"""() => {
			window.sj = { progress: [], done: [], dialog: [] };
			frappe.realtime.on("progress", (d) => window.sj.progress.push(d));
			frappe.realtime.on("scoopjoy_stock_sync_complete", (d) => window.sj.done.push(d));
			setInterval(() => {
				const p = frappe.cur_progress;
				if (!p || !p.is_visible) return;
				const state = [p.title, p.percent, p.progress.find(".description").text()];
				if (JSON.stringify(window.sj.dialog.at(-1)) !== JSON.stringify(state)) window.sj.dialog.push(state);
			}, 25);
		}"""
	)
	# A second tab, already in Desk, will hold the run's form open while it runs.
	watcher = browser.new_page()
	watcher.goto(f"{BASE}/app/stock-sync-log")
	watcher.wait_for_function("() => window.frappe && frappe.realtime && frappe.realtime.socket")
	page.screenshot(path=SCREENSHOTS / "1-list-with-sync-button.png")
	page.get_by_role("button", name="Sync Stock").click()
	dialog = page.locator(".modal.show")
	dialog.locator('[data-fieldname="outlet_group"] input').press_sequentially(world.group, delay=30)
	suggestion = dialog.get_by_role("option", name=world.group)
	suggestion.wait_for()
	page.screenshot(path=SCREENSHOTS / "1-sync-dialog.png")
	suggestion.click()
	dialog.get_by_role("button", name="Start").click()
	queued = page.locator("#alert-container").filter(has_text="has been queued")
	run = queued.get_by_role("link").first.inner_text(timeout=15000)

	# The form opens (in-app navigation) and must follow the run without a page reload.
	watcher.evaluate(
		"(run) => { window.sj_same_page = true; frappe.set_route('Form', 'Stock Sync Log', run); }", run
	)
	watcher.wait_for_function("(run) => window.cur_frm && cur_frm.doc.name === run", arg=run)
	watcher.evaluate(
		"""() => {
			window.sj_counts = [];
			setInterval(() => window.sj_counts.push(cur_frm.doc.processed), 25);
		}"""
	)

	if page.evaluate("() => !!(frappe.cur_progress && frappe.cur_progress.is_visible)"):
		page.screenshot(path=SCREENSHOTS / "2-progress-dialog.png")  # when the run is still going
	page.wait_for_function("() => window.sj.done.length", timeout=120000)
	seen = page.evaluate("() => window.sj.dialog")
	assert len({percent for _, percent, _ in seen}) >= 2, seen
	assert all(title == "Syncing Stock" for title, _, _ in seen)
	assert any("/301)" in description for _, _, description in seen)

	[done] = page.evaluate("() => window.sj.done")
	assert done["sync_log"] == run
	assert (done["total"], done["success"], done["errors"]) == (301, 300, 1)
	progress = page.evaluate("() => window.sj.progress")
	assert 2 <= len(progress) <= 101 and progress[-1]["percent"] == 100  # throttled, final 100 % kept
	alert = page.locator("#alert-container").get_by_text("finished: 300 of 301 outlets synced, 1 failed")
	alert.wait_for(timeout=10000)
	page.screenshot(path=SCREENSHOTS / "3-completion-alert.png")

	# The open form followed the run live, to its final status, in the same page.
	form = watcher.locator('.page-container[data-page-route="Stock Sync Log"]')
	form.locator(".form-message").get_by_text("Completed with Errors").wait_for(timeout=30000)
	counts = set(watcher.evaluate("() => window.sj_counts"))
	assert len(counts) >= 2, counts  # the counters moved while the form was open
	assert watcher.evaluate("() => window.sj_same_page === true")
	form.get_by_text("301 of 301 outlets processed").wait_for()
	failures = form.locator(".scoopjoy-failed-outlets")
	failures.get_by_text(broken.franchise_name).wait_for()
	failures.get_by_text("has no franchise warehouse configured").wait_for()
	watcher.screenshot(path=SCREENSHOTS / "4-stock-sync-log.png", full_page=True)
	watcher.close()

	# The completion alert links to the run.
	page.locator("#alert-container").get_by_role("link", name=run).last.click()
	page.wait_for_url(f"**/app/stock-sync-log/{run}")

	page.goto(f"{BASE}/app/stock-sync-log")
	page.locator(".list-row").first.wait_for()
	page.screenshot(path=SCREENSHOTS / "5-stock-sync-log-list.png")
	page.goto(f"{BASE}/app/scoopjoy")
	page.locator(".scoopjoy-latest-sync").get_by_text(run).wait_for(timeout=15000)
	page.screenshot(path=SCREENSHOTS / "6-workspace.png")


def test_user_without_the_role_sees_no_sync_button(desk, users, browser):
	log_in(browser, users.clerk)
	page = open_desk_page(browser, "/app/franchise-agreement")
	page.locator(".frappe-list").wait_for()
	page.wait_for_timeout(1000)  # let the list script's onload run
	assert page.get_by_role("button", name="Sync Stock").count() == 0
	page.screenshot(path=SCREENSHOTS / "7-list-without-role.png")


@pytest.mark.consolidating
def test_stock_manager_posts_stock_from_desk_and_sees_what_was_consolidated(
	desk, world, users, browser, queues
):
	"""With stock posting on: a Stock Manager (who may not create Sales Invoices) starts the sync from
	Desk; the alert and the run's form show what was consolidated, and why the short outlet failed."""
	from tests.integration.ledger import assert_consolidated_once, assert_untouched
	from tests.integration.world import wait_until

	good, short = world.good_and_short_outlets()

	log_in(browser, users.manager)
	page = open_desk_page(browser, "/app/franchise-agreement")
	page.evaluate(
		"""() => {
			window.sj_done = [];
			frappe.realtime.on("scoopjoy_stock_sync_complete", (d) => window.sj_done.push(d));
		}"""
	)
	page.get_by_role("button", name="Sync Stock").click()
	dialog = page.locator(".modal.show")
	dialog.locator('[data-fieldname="outlet_group"] input').press_sequentially(world.group, delay=30)
	dialog.get_by_role("option", name=world.group).click()
	dialog.get_by_role("button", name="Start").click()
	page.wait_for_function("() => window.sj_done.length", timeout=120000)
	[done] = page.evaluate("() => window.sj_done")
	assert (done["success"], done["errors"], done["invoices_consolidated"], done["stock_qty"]) == (1, 1, 2, 5)
	page.locator("#alert-container").get_by_text("2 invoices consolidated (stock qty 5").wait_for(
		timeout=10000
	)

	run_ended = lambda: frappe.db.get_value("Stock Sync Log", done["sync_log"], "status") != "Running"  # noqa: E731
	wait_until(run_ended, timeout=60)  # the report job finalised it
	page.goto(f"{BASE}/app/stock-sync-log/{done['sync_log']}")
	form = page.locator('.page-container[data-page-route="Stock Sync Log"]')
	form.get_by_text("2 invoices consolidated").first.wait_for(timeout=30000)
	failures = form.locator(".scoopjoy-failed-outlets")
	failures.get_by_text("needed in").wait_for()
	sales_invoice = frappe.db.get_value("POS Invoice", good.invoices[0], "consolidated_invoice")
	form.locator('[data-fieldname="consolidations"]').get_by_text(sales_invoice).wait_for()
	form.locator(".form-message").get_by_text("Completed with Errors").wait_for(
		timeout=30000
	)  # the report ran
	page.screenshot(path=SCREENSHOTS / "8-posting-run.png", full_page=True)

	frappe.db.rollback()
	assert_consolidated_once(good.invoices, good.warehouse)
	assert_untouched(short.invoices, short.warehouse)


def test_operator_sees_settings_health_workspace_and_the_bell(desk, world, users, browser, queues):
	"""After a scheduled-style run (started by nobody in Desk) with a failing outlet: the Stock Manager
	finds the alert in the bell, the figures on the workspace and the outlet on the health report; a
	System Manager edits ScoopJoy Settings, where a bad value is refused."""
	from scoopjoy import stock_sync

	for i in range(6):
		world.make_selling_outlet(f"Ops {i}", 4)
	broken = world.make_outlet("Ops Broken", world.make_warehouse("Ops Broken", disabled=1))
	world.make_pending_invoices(broken.warehouse, 3)
	world.commit()
	stock_sync.process_stock_sync(world.group, trigger="Scheduler")
	[run] = world.logs()
	frappe.db.commit()

	log_in(browser, users.manager)
	page = open_desk_page(browser, "/app/scoopjoy")
	failing = page.locator(".number-widget-box").filter(has_text="Outlets Failing").locator(".number")
	failing.wait_for(timeout=30000)
	page.wait_for_function(
		"(el) => el && /\\d/.test(el.textContent)", arg=failing.element_handle(), timeout=30000
	)
	assert int(failing.inner_text().strip()) >= 1
	page.wait_for_function(  # today's bar drawn, its animation over
		"""() => Array.from(document.querySelectorAll('.dashboard-widget-box .bar-chart rect'))
			.some((bar) => bar.getAttribute('height') > 0)""",
		timeout=30000,
	)
	page.wait_for_timeout(1000)
	page.screenshot(path=SCREENSHOTS / "11-workspace-at-a-glance.png", full_page=True)

	page.locator(".notifications-icon").first.click()
	page.locator(".notification-list-body").get_by_text(run).first.wait_for(timeout=15000)
	page.screenshot(path=SCREENSHOTS / "12-bell-after-a-failed-run.png")
	page.keyboard.press("Escape")

	page.goto(f"{BASE}/app/query-report/Outlet Sync Health?outlet_group={world.group}")
	report = page.locator(".page-container[data-page-route='query-report']")
	report.locator(".dt-scrollable").get_by_text(broken.name).first.wait_for(timeout=30000)
	report.locator(".chart-container svg").first.wait_for()
	first_row_state = report.locator(".dt-scrollable .dt-row").first.locator(".indicator-pill")
	assert first_row_state.inner_text().strip() == "Failing"  # the worst outlet comes first
	page.screenshot(path=SCREENSHOTS / "10-outlet-sync-health.png", full_page=True)

	log_in(browser, users.admin)
	page = open_desk_page(browser, "/app/scoopjoy-settings")
	page.locator('[data-fieldname="schedule"] select').wait_for(timeout=30000)
	page.get_by_text("Run Limits").first.click()  # a collapsed section
	page.locator('input[data-fieldname="fan_out_batch"]').wait_for()
	page.screenshot(path=SCREENSHOTS / "9-scoopjoy-settings.png", full_page=True)
	stored = frappe.db.get_single_value("ScoopJoy Settings", "fan_out_batch")
	page.locator('input[data-fieldname="fan_out_batch"]').fill("5")
	page.keyboard.press("Control+s")
	page.locator(".modal.show").get_by_text("must be between 10 and 10000").wait_for(timeout=15000)
	page.screenshot(path=SCREENSHOTS / "9-scoopjoy-settings-refused.png")
	frappe.db.rollback()
	assert frappe.db.get_single_value("ScoopJoy Settings", "fan_out_batch", cache=False) == stored


@pytest.mark.consolidating
def test_a_cashier_closes_a_shift_the_sync_posted_in_desk(desk, world, browser):
	"""With stock posting on: a cashier's shift (cash, card, a return), synced mid-shift, then more
	sales; the cashier makes the POS Closing Entry in Desk by picking the shift's opening, as the POS
	page's "Close the POS" leads to. The form lists every sale, expects the right cash and card, says
	which sales the sync posted and what cancelling does; submitting consolidates only the rest."""
	from tests.integration.ledger import assert_consolidated_once, merge_log_refs
	from tests.integration.shifts import Shop, delete_cashiers, invoices_in, merge_logs_of

	shop = Shop(world, "Desk Shift")
	cashier = shop.cashier("cashier")
	frappe.utils.password.update_password(cashier, PASSWORD)
	try:
		shift = shop.open_shift(cashier, cash=100)
		first = shop.sell(cashier, 2, {shop.cash: 52})
		shop.sell(cashier, 3, {shop.card: 78})
		shop.refund(cashier, first, 1)
		world.commit()
		shop.sync()
		later = [shop.sell(cashier, 1, {shop.cash: 30}), shop.sell(cashier, 2, {shop.card: 52})]
		world.commit()

		# The form sets the period's end to the current minute (seconds dropped): close a minute later.
		time.sleep(61 - time.time() % 60)
		log_in(browser, cashier)
		# What the POS page's "Close the POS" does (pos_controller.js close_pos): a new closing with the
		# shift's opening, opened in the form, which loads the shift's sales.
		page = open_desk_page(browser, f"/app/pos-opening-entry/{shift}")
		page.wait_for_function(
			"(shift) => window.cur_frm && cur_frm.doc.name === shift", arg=shift, timeout=30000
		)
		page.evaluate(
			"""(shift) => frappe.db.get_doc("POS Opening Entry", shift).then((opening) => {
				const voucher = frappe.model.get_new_doc("POS Closing Entry");
				voucher.pos_profile = opening.pos_profile;
				voucher.user = frappe.session.user;
				voucher.company = opening.company;
				voucher.pos_opening_entry = opening.name;
				voucher.period_end_date = frappe.datetime.now_datetime();
				voucher.posting_date = frappe.datetime.now_date();
				voucher.posting_time = frappe.datetime.now_time();
				frappe.set_route("Form", "POS Closing Entry", voucher.name);
			})""",
			shift,
		)
		form = page.locator('.page-container[data-page-route="POS Closing Entry"]')
		page.wait_for_function(
			"(n) => window.cur_frm && cur_frm.doctype === 'POS Closing Entry' && cur_frm.doc.period_start_date"
			" && (cur_frm.doc.pos_transactions || []).length === n && frappe.get_route()[0] === 'Form'",
			arg=len(shop.sales),
			timeout=60000,
		)
		page.wait_for_timeout(3000)  # the form's loading of the sales has settled
		assert page.evaluate("() => [cur_frm.doc.pos_transactions.length, cur_frm.doc.grand_total]") == [
			5,
			182,
		]
		page.keyboard.press("Control+s")
		page.wait_for_function("() => cur_frm && !cur_frm.is_new() && !cur_frm.is_dirty()", timeout=60000)
		form.get_by_text("already posted 3 of this shift's 5 sales").first.wait_for(timeout=30000)
		page.screenshot(path=SCREENSHOTS / "13-pos-closing-lists-what-the-sync-posted.png", full_page=True)
		name = page.evaluate("() => cur_frm.doc.name")
		frappe.db.rollback()
		closing = frappe.get_doc("POS Closing Entry", name)
		assert [row.pos_invoice for row in closing.pos_transactions] == shop.sales
		# Cash: 100 + 52 - 26 refund + (30 - 4 change); card: 78 + 52.
		assert {r.mode_of_payment: r.expected_amount for r in closing.payment_reconciliation} == {
			shop.cash: 152,
			shop.card: 130,
		}

		page.get_by_role("button", name="Submit").first.click()
		page.locator(".modal.show").get_by_role("button", name="Yes").click()
		page.wait_for_function("() => cur_frm && cur_frm.doc.docstatus === 1", timeout=60000)
		page.wait_for_function("() => cur_frm.doc.status === 'Submitted'", timeout=60000)
		page.reload()
		page.wait_for_function("() => window.cur_frm && cur_frm.doc.custom_stock_postings", timeout=60000)
		form.get_by_text("What the stock sync posted stays posted").first.wait_for(timeout=30000)
		form.locator('[data-fieldname="custom_stock_postings"]').get_by_text("Stock Sync").first.wait_for()
		page.screenshot(path=SCREENSHOTS / "14-pos-closing-submitted.png", full_page=True)

		frappe.db.rollback()
		assert invoices_in(merge_logs_of(name)) == set(later)
		assert [merge_log_refs(invoice) for invoice in shop.sales] == [1] * len(shop.sales)
		shop.sync()
		assert_consolidated_once(shop.sales, shop.outlet.warehouse)
	finally:
		delete_cashiers(world)
