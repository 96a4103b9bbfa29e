"""Benchmarks, one module each; each module's `run` is its entry point and prints its table, stamped:

	bench --site SITE execute scoopjoy.benchmarks.<module>.run --kwargs "{...}"

docs/benchmarks.md gives every command with its arguments, what it measures and its latest table.
`sync_run` and `fan_out` measure the "Mark invoices only" mode on invoices written in bulk (named SJBENCH…
and removed at the end); the posting benchmarks make their POS Invoices through ERPNext (scoopjoy.pos_factories),
and what they post stays, as posted stock does. Use a test site: they commit.

What two or more benchmarks share lives in `fixtures`, which imports no benchmark; a benchmark imports
another only downward (`consolidation` uses `posting`'s run, `health_report` uses `sync_run`'s).
"""
