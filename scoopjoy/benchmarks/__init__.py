"""Benchmarks, one module each; `run` is each one's entry point and prints its table, stamped.

	bench --site SITE execute scoopjoy.benchmarks.sync_run.run \\
		--kwargs "{'outlets': 500, 'invoices_per_outlet': 100}"
	bench --site SITE execute scoopjoy.benchmarks.fan_out.run \\
		--kwargs "{'outlets': 5000, 'invoices_per_outlet': 10, 'workers': [1, 2]}"
	bench --site SITE execute scoopjoy.benchmarks.posting.run \\
		--kwargs "{'outlets': 500, 'invoices_per_outlet': 2}"
	bench --site SITE execute scoopjoy.benchmarks.consolidation.run \\
		--kwargs "{'outlets': 50, 'invoices_per_outlet': 20}"
	bench --site SITE execute scoopjoy.benchmarks.posting_at_scale.run \\
		--kwargs "{'outlets': 500, 'invoices_per_outlet': 20, 'workers': [1, 2]}"
	bench --site SITE execute scoopjoy.benchmarks.cadence.run \\
		--kwargs "{'outlets': 500, 'sales_per_run': 5}"
	bench --site SITE execute scoopjoy.benchmarks.pos_modes.run \\
		--kwargs "{'sales_per_hour': 20, 'trading_hours': 12}"
	bench --site SITE execute scoopjoy.benchmarks.failing_day.run \\
		--kwargs "{'invoices_per_outlet': 20, 'repeat': 3}"
	bench --site SITE execute scoopjoy.benchmarks.health_report.run \\
		--kwargs "{'outlets': 5000, 'history_runs': 200}"

`sync_run` and `fan_out` measure the "Mark invoices only" mode on invoices written in bulk; everything
they create is named SJBENCH… and removed at the end. `posting` measures stock posting on POS Invoices
made through ERPNext (scoopjoy.demo); its ledger documents stay, as posted stock does. Use a test site:
it commits.

What two or more benchmarks share lives in `fixtures`, which imports no benchmark; a benchmark imports
another only downward (`consolidation` uses `posting`'s run, `health_report` uses `sync_run`'s).
"""
