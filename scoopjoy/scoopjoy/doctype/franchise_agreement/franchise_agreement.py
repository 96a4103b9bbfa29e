# Copyright (c) 2026, ScoopJoy and contributors
# For license information, please see license.txt

from frappe.model.document import Document


class FranchiseAgreement(Document):
	# A missing or disabled warehouse is allowed here (an outlet being set up); the stock sync
	# reports such outlets as failed instead of hiding them.
	pass
