"""Framework-free: the app's modules import each other without a circle, function-level imports
included, so every module can be read (and loaded) knowing only what lies below it."""

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "scoopjoy"


def module_name(path: Path) -> str:
	parts = path.relative_to(APP.parent).with_suffix("").parts
	return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def app_modules() -> dict[str, Path]:
	return {module_name(p): p for p in APP.rglob("*.py") if "tests" not in p.relative_to(APP).parts}


def imported_names(tree: ast.AST):
	"""Every dotted name an import anywhere in the module (top level or inside a function) reaches."""
	for node in ast.walk(tree):
		if isinstance(node, ast.Import):
			yield from (alias.name for alias in node.names)
		elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
			yield node.module
			yield from (f"{node.module}.{alias.name}" for alias in node.names)


def import_graph() -> dict[str, set[str]]:
	modules = app_modules()
	graph = {}
	for name, path in modules.items():
		deps = set()
		for imported in imported_names(ast.parse(path.read_text())):
			while imported and imported not in modules:  # `from pkg.mod import func` reaches pkg.mod
				imported = imported.rpartition(".")[0]
			if imported and imported not in (name, "scoopjoy"):
				deps.add(imported)
		graph[name] = deps
	return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
	"""A path that returns to its start, or None (depth-first search, colouring visited modules)."""
	done, path = set(), []

	def visit(module: str) -> list[str] | None:
		if module in path:
			return [*path[path.index(module) :], module]
		if module in done:
			return None
		path.append(module)
		for dep in sorted(graph.get(module, ())):
			if cycle := visit(dep):
				return cycle
		path.pop()
		done.add(module)
		return None

	for module in sorted(graph):
		if cycle := visit(module):
			return cycle
	return None


def test_the_app_has_no_import_cycle():
	assert find_cycle(import_graph()) is None, " -> ".join(find_cycle(import_graph()))


def test_the_graph_sees_imports_inside_functions():
	graph = import_graph()
	# stock_sync imports the posting at the top, the bench commands import the sync inside a function
	# (bench loads them before a site is connected): both must be edges, or the cycle test above would
	# pass on a graph that misses half the imports.
	assert "scoopjoy.stock_posting" in graph["scoopjoy.stock_sync"]
	assert "scoopjoy.stock_sync" in graph["scoopjoy.commands"]
	assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_the_records_below_the_sync_never_import_it():
	"""Held sales and the run's record are written by the posting and the run; the sync imports them,
	never the reverse (a stock transaction reaches the sync through scoopjoy.stock_sync's hooks)."""
	graph = import_graph()
	below = [m for m in graph if ".doctype." in m or m in ("scoopjoy.stock_posting", "scoopjoy.bulk")]
	assert below
	assert not [m for m in below if "scoopjoy.stock_sync" in graph[m]]


def test_the_liveness_probes_sit_below_the_run():
	"""The run's record asks scoopjoy.liveness about locks and RQ; the probes never reach back to runs."""
	graph = import_graph()
	run = "scoopjoy.scoopjoy.doctype.stock_sync_log.stock_sync_log"
	assert "scoopjoy.liveness" in graph[run]
	assert not graph["scoopjoy.liveness"] & {run, "scoopjoy.stock_sync"}
