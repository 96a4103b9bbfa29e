"""Bench commands: `bench --site S scoopjoy-sync-stock [--group G] [--wait]`, `scoopjoy-sync-status` and
`scoopjoy-demo [--outlets 50] [--invoices 20] [--remove]`."""

import sys
import time

import click
from frappe.commands import get_site, pass_context

POLL_SECONDS = 0.5


@click.command("scoopjoy-sync-stock")
@click.option("--group", "outlet_group", help="Outlet Group to sync; all active outlets when left out.")
@click.option("--wait", is_flag=True, help="Follow the run with a progress bar and print its summary.")
@click.option("--timeout", default=3600, show_default=True, help="Seconds --wait follows the run.")
@pass_context
def sync_stock(context, outlet_group=None, wait=False, timeout=3600):
	"""Start (or resume) a stock sync. With --wait, exit non-zero when outlets or the run failed."""
	import frappe

	from scoopjoy.stock_sync import enqueue_stock_sync

	with frappe.init_site(get_site(context)):
		frappe.connect()
		frappe.set_user("Administrator")
		try:
			reply = enqueue_stock_sync(outlet_group)
		except frappe.ValidationError as e:  # PermissionError and DoesNotExistError included
			click.secho(str(e), fg="red", err=True)
			sys.exit(1)
		click.echo(f"{reply['message']} ({reply['sync_log']})")
		if wait:
			sys.exit(follow_run(reply["sync_log"], timeout))


def follow_run(name: str, timeout: int) -> int:
	"""Draw the run's progress until its worker stops; return the exit code for its outcome."""
	import frappe

	deadline = time.monotonic() + timeout
	run = read_run(name)
	if run.status == "Queued":
		click.echo("Waiting for a worker on the long queue...")
	while run.status == "Queued" and time.monotonic() < deadline:
		time.sleep(POLL_SECONDS)
		run = read_run(name)

	with click.progressbar(length=max(run.total_outlets, 1), label="Outlets", show_pos=True) as bar:
		shown = 0
		while time.monotonic() < deadline:
			bar.update(run.processed - shown)
			shown = run.processed
			if run.ended_on:
				break
			time.sleep(POLL_SECONDS)
			run = read_run(name)

	if not run.ended_on:
		click.secho(f"{name} is still running after {timeout} s.", fg="yellow", err=True)
		return 2
	outcome = frappe.get_doc("Stock Sync Log", name).completion_message()
	print_summary(outcome)
	return 0 if outcome["status"] == "Completed" else 1


def read_run(name: str):
	import frappe

	frappe.db.rollback()  # a fresh snapshot: see what the worker committed since the last look
	return frappe.db.get_value(
		"Stock Sync Log", name, ["status", "total_outlets", "processed", "ended_on"], as_dict=True
	)


def print_summary(outcome: dict):
	colour = "green" if outcome["status"] == "Completed" else "red"
	click.secho(
		f"{outcome['sync_log']}: {outcome['status']} - {outcome['success']} of {outcome['total']} outlets "
		f"synced, {outcome['errors']} failed",
		fg=colour,
	)
	click.echo(
		f"  {outcome['invoices_consolidated']} invoices consolidated into "
		f"{outcome['consolidated_documents']} merge logs (stock qty {outcome['stock_qty']:g} posted), "
		f"{outcome['invoices_flagged']} only marked as synced"
	)
	for error in outcome["error_details"]:
		click.echo(f"  {error['outlet']} ({error['franchise_name']}): {error['message']}")
	if outcome.get("invoices_held"):
		click.secho(f"{outcome['invoices_held']} sales held (retried by every run):", fg="yellow")
		for held in outcome["held_details"]:
			click.echo(
				f"  {held['pos_invoice']} of {held['outlet']}, held since {held['held_since']}: {held['reason']}"
			)
		if outcome["invoices_held"] > len(outcome["held_details"]):
			click.echo(f"  and {outcome['invoices_held'] - len(outcome['held_details'])} more")


@click.command("scoopjoy-sync-status")
@click.option("--limit", default=10, show_default=True, help="How many of the latest runs to show.")
@pass_context
def sync_status(context, limit=10):
	"""Show the latest stock sync runs."""
	import frappe

	with frappe.init_site(get_site(context)):
		frappe.connect()
		runs = frappe.get_all(
			"Stock Sync Log",
			fields=[
				"name",
				"outlet_group",
				"status",
				"trigger",
				"sync_datetime",
				"processed",
				"total_outlets",
				"failed",
				"invoices_consolidated",
				"invoices_flagged",
			],
			order_by="creation desc",
			limit=limit,
		)
		if not runs:
			click.echo("No stock sync has run yet.")
			return
		click.echo(
			f"{'Run':<16} {'Group':<14} {'Status':<22} {'Via':<9} {'Started':<19} {'Outlets':>11} "
			f"{'Failed':>6} {'Consolidated':>12} {'Marked':>7}"
		)
		for run in runs:
			started = run.sync_datetime.strftime("%Y-%m-%d %H:%M:%S") if run.sync_datetime else "-"
			click.echo(
				f"{run.name:<16} {run.outlet_group[:14]:<14} {run.status:<22} {run.trigger or '-':<9} "
				f"{started:<19} {f'{run.processed}/{run.total_outlets}':>11} {run.failed:>6} "
				f"{run.invoices_consolidated:>12} {run.invoices_flagged:>7}"
			)


@click.command("scoopjoy-demo")
@click.option(
	"--outlets", default=50, show_default=True, help="Demo outlets to make (two failing ones come on top)."
)
@click.option(
	"--invoices", default=20, show_default=True, help="POS Invoices per outlet waiting to be synced."
)
@click.option("--remove", is_flag=True, help="Cancel and remove the demo instead.")
@pass_context
def demo(context, outlets=50, invoices=20, remove=False):
	"""Demo data made through ERPNext, all named "ScoopJoy Demo ...": re-running it tops every outlet up
	to --invoices POS Invoices not yet synced."""
	import frappe

	from scoopjoy import demo as world

	if outlets < 1 or invoices < 1:
		click.secho("--outlets and --invoices must be at least 1.", fg="red", err=True)
		sys.exit(1)
	with frappe.init_site(get_site(context)):
		frappe.connect()
		frappe.set_user("Administrator")
		if remove:
			world.remove_demo(echo=click.echo)
			return
		made = world.build_demo(outlets, invoices, echo=click.echo)
		click.secho(
			f"Demo ready: {made['outlets']} outlets in groups {', '.join(made['groups'])}, "
			f"{made['invoices_made']} new POS Invoices. Sync them: "
			f"bench --site {frappe.local.site} scoopjoy-sync-stock --wait",
			fg="green",
		)


commands = [sync_stock, sync_status, demo]
