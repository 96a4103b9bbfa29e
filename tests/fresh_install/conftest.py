"""The fresh-install check (scripts/check-fresh-install): a throwaway site that had never seen scoopjoy.

These tests only run when that script names the site in SCOOPJOY_FRESH_SITE; `scripts/test` skips them.
"""

import os
from pathlib import Path

import pytest

BENCH = Path(os.environ.get("FRAPPE_BENCH", "~/frappe-bench")).expanduser()
FRESH_SITE = os.environ.get("SCOOPJOY_FRESH_SITE")


def pytest_collection_modifyitems(config, items):
	if FRESH_SITE:
		return
	skip = pytest.mark.skip(reason="fresh-install check: run by scripts/check-fresh-install on a new site")
	for item in items:
		if "fresh_install" in str(item.fspath):
			item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def fresh_site():
	if not FRESH_SITE:
		yield None
		return
	import frappe

	os.chdir(BENCH / "sites")
	frappe.init(site=FRESH_SITE, sites_path=".")
	frappe.connect()
	frappe.set_user("Administrator")
	yield FRESH_SITE
	frappe.db.rollback()
	frappe.destroy()
