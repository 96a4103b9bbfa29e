"""Framework-free: scoopjoy reaches ERPNext through one door (scoopjoy/erpnext_pos.py), and nothing in
the app patches Frappe or ERPNext: no module assigns an attribute of an imported Frappe or ERPNext
name (a function, class or module), calls setattr on one, or writes Frappe's document cache behind
its API. frappe.local and frappe.flags (per request and thread) are the app's to set."""

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "scoopjoy"
DOOR = APP / "erpnext_pos.py"


def app_files() -> list[Path]:
	return sorted(p for p in APP.rglob("*.py") if "tests" not in p.relative_to(APP).parts)


def imports_of(tree: ast.AST):
	"""(dotted module, line) of every import anywhere in the module, function-level ones included."""
	for node in ast.walk(tree):
		if isinstance(node, ast.Import):
			yield from ((alias.name, node.lineno) for alias in node.names)
		elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
			yield node.module, node.lineno


def framework_names(tree: ast.AST) -> set[str]:
	"""The local names a module binds to something of Frappe or ERPNext (modules, functions, classes)."""
	names = set()
	for node in ast.walk(tree):
		if isinstance(node, ast.Import):
			names |= {
				(alias.asname or alias.name).split(".")[0]
				for alias in node.names
				if alias.name.split(".")[0] in ("frappe", "erpnext")
			}
		elif (
			isinstance(node, ast.ImportFrom)
			and node.module
			and node.module.split(".")[0] in ("frappe", "erpnext")
		):
			names |= {alias.asname or alias.name for alias in node.names}
	return names


def patches_in(tree: ast.AST) -> list[str]:
	"""Assignments to (and setattr, delattr on) an attribute of a Frappe or ERPNext name."""
	names = framework_names(tree)
	found = []
	for node in ast.walk(tree):
		targets = []
		if isinstance(node, ast.Assign):
			targets = node.targets
		elif isinstance(node, ast.AugAssign | ast.AnnAssign):
			targets = [node.target]
		elif isinstance(node, ast.Delete):
			targets = node.targets
		elif (
			isinstance(node, ast.Call)
			and isinstance(node.func, ast.Name)
			and node.func.id in ("setattr", "delattr")
			and node.args
		):
			targets = [ast.Attribute(value=node.args[0], attr="?", lineno=node.lineno)]
		for target in targets:
			if (
				isinstance(target, ast.Attribute)
				and isinstance(target.value, ast.Name)
				and target.value.id in names
			):
				found.append(f"line {node.lineno}: {target.value.id}.{target.attr}")
	return found


def test_only_the_door_imports_erpnext():
	outside = [
		f"{path.relative_to(APP.parent)}:{line} imports {module}"
		for path in app_files()
		if path != DOOR
		for module, line in imports_of(ast.parse(path.read_text()))
		if module.split(".")[0] == "erpnext"
	]
	assert not outside, "ERPNext is reached through scoopjoy/erpnext_pos.py only:\n" + "\n".join(outside)


def test_the_door_is_where_erpnexts_pos_code_is_imported():
	imported = {module for module, _line in imports_of(ast.parse(DOOR.read_text()))}
	assert {
		"erpnext.accounts.doctype.pos_invoice_merge_log.pos_invoice_merge_log",
		"erpnext.accounts.doctype.pos_closing_entry.pos_closing_entry",
	} <= imported


def test_nothing_in_the_app_patches_frappe_or_erpnext():
	patched = {
		str(path.relative_to(APP.parent)): found
		for path in app_files()
		if (found := patches_in(ast.parse(path.read_text())))
	}
	assert not patched, patched


def test_nothing_writes_frappes_document_cache_behind_its_api():
	writers = [
		str(path.relative_to(APP.parent))
		for path in app_files()
		if "get_document_cache_key" in path.read_text() or "_set_document_in_cache" in path.read_text()
	]
	assert not writers


def test_the_patch_finder_sees_each_form_of_patch():
	"""The checks above are only as good as this: each form of patch is found, a request flag is not."""
	source = """
import frappe
from frappe.model import mapper
from erpnext.accounts.doctype.pos_closing_entry import pos_closing_entry as closing
from erpnext.accounts.doctype.pos_invoice_merge_log.pos_invoice_merge_log import POSInvoiceMergeLog
frappe.get_doc = None
closing.consolidate_pos_invoices = None
mapper.map_doc = None
POSInvoiceMergeLog.on_submit = None
setattr(frappe, "get_all", None)
frappe.local.scoopjoy_thing = 1
frappe.flags.scoopjoy_posting = True
"""
	assert patches_in(ast.parse(source)) == [
		"line 6: frappe.get_doc",
		"line 7: closing.consolidate_pos_invoices",
		"line 8: mapper.map_doc",
		"line 9: POSInvoiceMergeLog.on_submit",
		"line 10: frappe.?",
	]
