"""One INSERT for a chunk's rows. Frappe's db.bulk_insert builds the statement with pypika, which
costs more than the database spends on it at the sync's row counts (in mark-only mode it was a third
of a run's time): this is the same statement with the values handed to the driver as parameters.
Table and column names come from the code, never from input."""

import frappe


def insert(
	doctype: str, columns: tuple | list, rows: list[tuple], on_duplicate_key_update: dict | None = None
):
	"""INSERT rows of `columns` into the DocType's table; `on_duplicate_key_update`: {column: SQL
	expression} for rows whose primary key exists (an upsert)."""
	if not rows:
		return
	row_placeholder = "(" + ", ".join(["%s"] * len(columns)) + ")"
	query = "INSERT INTO `tab{}` ({}) VALUES {}".format(
		doctype, ", ".join(f"`{column}`" for column in columns), ", ".join([row_placeholder] * len(rows))
	)
	if on_duplicate_key_update:
		query += " ON DUPLICATE KEY UPDATE " + ", ".join(
			f"`{column}` = {expression}" for column, expression in on_duplicate_key_update.items()
		)
	frappe.db.sql(query, [value for row in rows for value in row])  # nosemgrep: frappe-using-db-sql
