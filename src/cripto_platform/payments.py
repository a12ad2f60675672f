"""The payments schema, shared by the payments nodes, the quality rules, the datasets and the SCD2 merge.

One place for what a payment is: its columns, its key, the columns whose change makes a new SCD2
version (the change rule itself, NULL-safe, is ``warehouse.scd2.row_hash``), and the amount limit of
the warehouse column (``payments_l0.amount numeric(14, 2)``).
"""

from __future__ import annotations

PAYMENT_COLUMNS = [
    "payment_id", "company_code", "external_client_id", "status", "amount",
    "payment_at", "created_at", "updated_at",
]
KEY = ["payment_id", "company_code"]
COMPARED = ["payment_at", "status", "amount", "external_client_id"]
COMPANY_COLUMNS = ["company_code", "company_id", "name", "category", "created_at", "updated_at"]
# payments_l0.amount is numeric(14, 2): |amount| < 10^12, i.e. fewer than 10^14 cents.
MAX_CENTS = 10**14
