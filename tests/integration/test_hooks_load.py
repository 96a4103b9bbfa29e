"""Whatever the ERPNext version, installing the app never leaves an ERPNext document or Desk call that
cannot load: every class and method the app hooks into Frappe and ERPNext is imported here, on the
running bench, and the closing form's own listing call is among the ones the app answers."""

import re
from pathlib import Path

import pytest

frappe = pytest.importorskip("frappe", reason="Frappe tier skipped: no Frappe bench (FRAPPE_BENCH)")

from frappe.model.base_document import get_controller  # noqa: E402

HOOKS = frappe.get_module("scoopjoy.hooks")


def dotted_paths(value) -> list[str]:
	"""Every "module.attr" string in a hook's value, however nested (doc_events, scheduler_events)."""
	if isinstance(value, str):
		return [value] if re.fullmatch(r"[a-z_][\w.]*\.\w+", value) and "." in value else []
	if isinstance(value, dict):
		return [p for v in value.values() for p in dotted_paths(v)]
	if isinstance(value, list | tuple):
		return [p for v in value for p in dotted_paths(v)]
	return []


@pytest.mark.parametrize(
	"hook",
	[
		"doc_events",
		"scheduler_events",
		"override_doctype_class",
		"before_install",
		"after_install",
		"before_migrate",
		"after_migrate",
	],
)
def test_every_method_a_hook_names_imports(hook):
	paths = dotted_paths(getattr(HOOKS, hook))
	assert paths, hook
	for path in paths:
		assert callable(frappe.get_attr(path)), path


def test_every_overridden_doctype_loads_with_the_apps_class():
	for doctype, path in HOOKS.override_doctype_class.items():
		frappe.clear_cache(doctype=doctype)
		assert get_controller(doctype) is frappe.get_attr(path)
		new = frappe.new_doc(doctype)  # the form of a new closing
		assert isinstance(new, frappe.get_attr(path))
		existing = frappe.get_all(doctype, pluck="name", limit=1)
		if existing:
			assert frappe.get_doc(doctype, existing[0]).doctype == doctype


def test_every_whitelisted_override_is_whitelisted_and_the_closing_form_calls_one():
	overrides = HOOKS.override_whitelisted_methods
	for ours in overrides.values():
		assert frappe.get_attr(ours) in frappe.whitelisted, ours
	# What this ERPNext's closing form calls for its listing is a method the app answers, and exists.
	form = Path(frappe.get_app_path("erpnext", "accounts/doctype/pos_closing_entry/pos_closing_entry.js"))
	called = set(
		re.findall(r'method:\s*"(erpnext\.accounts\.doctype\.pos_closing_entry\.[\w.]+)"', form.read_text())
	)
	listing = {
		method for method in called if method.rsplit(".", 1)[1] in ("get_pos_invoices", "get_invoices")
	}
	assert listing, called
	for method in listing:
		assert method in overrides, method
		assert callable(frappe.get_attr(method)), method  # ERPNext's own, which the override hands over to
