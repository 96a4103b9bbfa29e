"""The fresh-install check (scripts/check-fresh-install): a throwaway site that had never seen scoopjoy.

That script names the site in SCOOPJOY_FRESH_SITE and runs these tests; `scripts/test` does not
collect them (they need a site that never had the app), so they are never reported as skipped.
"""

import os
from pathlib import Path

import pytest

BENCH = Path(os.environ.get("FRAPPE_BENCH", "~/frappe-bench")).expanduser()
FRESH_SITE = os.environ.get("SCOOPJOY_FRESH_SITE")


@pytest.fixture(scope="session", autouse=True)
def fresh_site():
	if not FRESH_SITE:
		pytest.exit("tests/fresh_install runs through scripts/check-fresh-install (SCOOPJOY_FRESH_SITE)", 2)
	import frappe

	os.chdir(BENCH / "sites")
	frappe.init(site=FRESH_SITE, sites_path=".")
	frappe.connect()
	frappe.set_user("Administrator")
	yield FRESH_SITE
	frappe.db.rollback()
	frappe.destroy()
