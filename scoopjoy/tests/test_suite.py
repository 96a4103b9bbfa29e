"""`bench run-tests --app scoopjoy` runs the app's whole suite on the site it is given.

The suite is pytest's (the repository's tests/, run by scripts/test, the README's test command): its
tests start real RQ workers, kill them, restart MariaDB and Redis, and drive Desk in Chromium, which
Frappe's unittest runner cannot host in its own process. So Frappe's runner runs scripts/test on its
site and reports that as one test: it passes only when every test of the suite passed, and its output
is the suite's own. Without the repository (the app installed from a package), it fails, naming it."""

import os
import subprocess
import unittest
from pathlib import Path

import frappe
from frappe.utils import get_bench_path

REPOSITORY = Path(__file__).resolve().parents[2]
TEST_COMMAND = REPOSITORY / "scripts" / "test"


class TestScoopJoySuite(unittest.TestCase):
	def test_the_suite_passes_on_this_site(self):
		self.assertTrue(
			TEST_COMMAND.exists(),
			f"scoopjoy's tests live in its repository and run with scripts/test; {TEST_COMMAND} is missing",
		)
		frappe.db.commit()  # hold no locks and hide nothing from the suite's workers
		env = {**os.environ, "FRAPPE_SITE": frappe.local.site, "FRAPPE_BENCH": get_bench_path()}
		env.pop("CI", None)  # Frappe's workers would run every job inline
		print(f"\n== bench run-tests --app scoopjoy: {TEST_COMMAND} on {frappe.local.site}", flush=True)
		result = subprocess.run([str(TEST_COMMAND)], env=env, cwd=REPOSITORY, check=False)
		frappe.db.connect()  # the suite restarts MariaDB: this runner's connection is gone
		self.assertEqual(result.returncode, 0, f"{TEST_COMMAND} failed on {frappe.local.site}: see above")
