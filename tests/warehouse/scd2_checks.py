"""Every SCD type 2 invariant of a payments history table, as SQL a test can assert on."""

from __future__ import annotations

from cripto_platform.warehouse import transaction

# Each query returns the number of offending rows (0 when the invariant holds).
INVARIANTS = {
    "one current row per key": """
        SELECT count(*) FROM (SELECT 1 FROM {t} WHERE is_current GROUP BY payment_id, company_code
                              HAVING count(*) > 1) AS d""",
    "is_current iff end_date is null": "SELECT count(*) FROM {t} WHERE is_current <> (end_date IS NULL)",
    "start_date < end_date": "SELECT count(*) FROM {t} WHERE end_date IS NOT NULL AND end_date <= start_date",
    "no overlapping versions": """
        SELECT count(*) FROM (
            SELECT start_date, lag(end_date) OVER w AS previous_end, lag(is_current) OVER w AS previous_current
            FROM {t} WINDOW w AS (PARTITION BY payment_id, company_code ORDER BY start_date)) AS v
        WHERE previous_current OR previous_end > start_date""",
    "a closed version ends where its successor starts": """
        SELECT count(*) FROM (
            SELECT start_date, lag(end_date) OVER w AS previous_end
            FROM {t} WINDOW w AS (PARTITION BY payment_id, company_code ORDER BY start_date)) AS v
        WHERE previous_end IS NOT NULL AND previous_end <> start_date""",
}


def scd2_violations(url: str, table: str, *, invalidated_keys_may_revive: bool = False) -> dict[str, int]:
    """Violated invariants of ``table`` with their offending row counts (empty when all hold).

    A key invalidated and later revived legitimately has a gap between its versions; pass
    ``invalidated_keys_may_revive`` to allow that gap.
    """
    violations = {}
    with transaction(url) as cursor:
        for name, query in INVARIANTS.items():
            if invalidated_keys_may_revive and name == "a closed version ends where its successor starts":
                continue
            cursor.execute(query.format(t=f'"{table}"'))
            count = cursor.fetchone()[0]
            if count:
                violations[name] = count
    return violations
