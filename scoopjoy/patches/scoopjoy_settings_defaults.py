import frappe


def execute():
	"""ScoopJoy Settings gained the schedule, limits, alert role and retention. A site that saved the
	form before has none of them stored (a Single's defaults apply only while it was never saved):
	give it the defaults a fresh site has, so the form opens valid and says what the sync does."""
	stored = frappe.db.get_singles_dict("ScoopJoy Settings")
	if not stored:
		return  # never saved: the defaults apply when it is read
	for df in frappe.get_meta("ScoopJoy Settings").fields:
		if df.default and stored.get(df.fieldname) in (None, ""):
			frappe.db.set_single_value("ScoopJoy Settings", df.fieldname, df.default)
