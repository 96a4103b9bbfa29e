// Copyright (c) 2026, ScoopJoy and contributors
// For license information, please see license.txt

// With stock posting on, a closing says which of its sales the stock sync already posted, what it
// consolidated itself, which sales it left to the sync, and what cancelling it does (scoopjoy.pos_closing).
frappe.ui.form.on("POS Closing Entry", {
	refresh(frm) {
		const note = frm.doc.custom_stock_posting_note;
		if (!note || (frm.doc.docstatus === 1 && frm.doc.status === "Failed")) return; // ERPNext's headline
		const left = (frm.doc.custom_stock_postings || []).some(
			(row) => row.posted_by === "Left to the Stock Sync"
		);
		frm.dashboard.set_headline(
			frappe.utils.escape_html(note).replace(/\n\n/g, "<br><br>"),
			left ? "orange" : "blue"
		);
	},
});
