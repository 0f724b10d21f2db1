"""breakout, from its header: wholesale legs (customer or provider not NULL) with local
invite_time in [from, to), tenant/customer/provider filters (exact list matches), grouped by
tenant_id, customer, provider and optionally (group_by: country, prefix, day; case and spaces
ignored, unknown words ignored) the destination country (E.164 calling code of callee_number;
NANP by area code: CA for Canadian provinces, the other NANP countries' own codes, else US;
otherwise data/countries.csv with the header's choices for shared codes), the destination
prefix ('+' cc and 3 more digits) and the local day. Ungrouped dimensions are NULL.
Metrics: attempts, answered, asr_pct, ner_pct, acd_s, avg_pdd_ms, customer/provider billed
minutes (billed_seconds with NULL increments as 1), charge, cost, profit, margin_pct; ratios from
the group's sums, doubles rounded half away from zero to 2 decimals. Ordered by the grouping
columns, NULLs last."""

import csv
import datetime as dt
import decimal
from pathlib import Path

from _common import in_list, local, ts
from _ref import register_npa, round_half_away

COLS = ["tenant_id", "customer", "provider", "country", "prefix", "day", "attempts", "answered",
        "asr_pct", "ner_pct", "acd_s", "avg_pdd_ms", "customer_billed_min", "provider_billed_min",
        "charge", "cost", "profit", "margin_pct"]

TWO_DIGIT_CC = ("20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 "
                "60 61 62 63 64 65 66 81 82 84 86 90 91 92 93 94 95 98").split()
SHARED_CC = {"7": "RU", "44": "GB", "61": "AU", "39": "IT", "47": "NO", "212": "MA", "262": "RE",
             "290": "SH", "358": "FI", "590": "GP", "599": "CW"}
PROVINCES = ["AB", "BC", "MB", "NB", "NL", "NS/PE", "ON", "QC", "SK", "YT/NT/NU"]
COUNTRIES = Path(__file__).resolve().parents[3] / "data" / "countries.csv"


def _default(days):
    return dt.datetime.combine(dt.datetime.now(dt.UTC).date(), dt.time()) + dt.timedelta(days=days)


def _register_calling_codes(con, name="ref_calling_codes"):
    """(calling_code, iso2): one region per calling code, the header's choice where shared."""
    by_code = {}
    with COUNTRIES.open() as f:
        for r in csv.DictReader(f):
            by_code.setdefault(r["calling_code"], []).append(r["iso2"])
    rows = []
    for code, regions in sorted(by_code.items()):
        if len(regions) == 1:
            rows.append((code, regions[0]))
        elif code in SHARED_CC:
            rows.append((code, SHARED_CC[code]))
        elif code != "1":
            raise ValueError(f"calling code {code} is shared by {regions} and the header picks none")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} (calling_code VARCHAR, iso2 VARCHAR)")
    con.executemany(f"INSERT INTO {name} VALUES (?, ?)", rows)
    return name


def _groups(value):
    if value is None:
        return set()
    return {w for w in value.replace(" ", "").lower().split(",")} & {"country", "prefix", "day"}


def _billed(d, a, b):
    """SQL of billed_seconds(d, a, b): NULL for NULL/negative inputs and for b 0 past a."""
    return f"""CASE WHEN {d} IS NULL OR {a} IS NULL OR {b} IS NULL OR {d} < 0 OR {a} < 0 OR {b} < 0 THEN NULL
                 WHEN {d} = 0 THEN 0 WHEN {d} <= {a} THEN {a}
                 WHEN {b} = 0 THEN NULL
                 ELSE {a} + ((({d} - {a}) + {b} - 1) // {b}) * {b} END"""


def run(con, args):
    tenants = in_list(args.get("tenant"))
    customers = in_list(args.get("customer"))
    providers = in_list(args.get("provider"))
    start = ts(args.get("from")) or _default(-30)
    end = ts(args.get("to")) or _default(1)
    groups = _groups(args.get("param:group_by"))
    npa = register_npa(con)
    ccs = _register_calling_codes(con)
    two = ", ".join(f"'{c}'" for c in TWO_DIGIT_CC)
    prov = ", ".join(f"'{p}'" for p in PROVINCES)
    dims = {
        "country": "dest_country" if "country" in groups else "NULL::VARCHAR",
        "prefix": "dest_prefix" if "prefix" in groups else "NULL::VARCHAR",
        "day": "local_day" if "day" in groups else "NULL::DATE",
    }
    rows = con.execute(
        f"""
        WITH legs AS (
          SELECT c.*, CAST({local('c.invite_time')} AS DATE) AS local_day,
                 CASE WHEN c.callee_number IS NULL THEN NULL
                      WHEN substr(c.callee_number, 2, 1) IN ('1', '7') THEN substr(c.callee_number, 2, 1)
                      WHEN substr(c.callee_number, 2, 2) IN ({two}) THEN substr(c.callee_number, 2, 2)
                      ELSE substr(c.callee_number, 2, 3) END AS cc
          FROM calls c JOIN tenants t USING (tenant_id)
          WHERE (c.customer IS NOT NULL OR c.provider IS NOT NULL)
            AND {local('c.invite_time')} >= ? AND {local('c.invite_time')} < ?
            AND (? IS NULL OR list_contains(?, c.tenant_id))
            AND (? IS NULL OR list_contains(?, c.customer))
            AND (? IS NULL OR list_contains(?, c.provider))
        ), dest AS (
          SELECT l.*,
                 CASE WHEN l.callee_number IS NULL THEN '(unknown)'
                      ELSE substr(l.callee_number, 1, 1 + length(l.cc) + 3) END AS dest_prefix,
                 CASE WHEN l.callee_number IS NULL THEN '(unknown)'
                      WHEN l.cc = '1' THEN CASE
                        WHEN n.kind = 'geographic' AND n.region IN ({prov}) THEN 'CA'
                        WHEN n.kind = 'geographic' AND n.country <> 'US' THEN n.region
                        ELSE 'US' END
                      ELSE coalesce(k.iso2, '(unknown)') END AS dest_country
          FROM legs l
          LEFT JOIN {npa} n ON l.cc = '1' AND n.npa = substr(l.callee_number, 3, 3)
          LEFT JOIN {ccs} k ON k.calling_code = l.cc
        )
        SELECT tenant_id, customer, provider, {dims['country']} AS country, {dims['prefix']} AS prefix,
               {dims['day']} AS day,
               count(*) AS attempts,
               count(*) FILTER (WHERE disposition = 'answered') AS answered,
               count(*) FILTER (WHERE disposition IN ('answered', 'busy', 'no_answer', 'rejected')) AS ner,
               sum(billable_s) FILTER (WHERE disposition = 'answered') AS answered_s,
               avg(pdd_ms) AS avg_pdd,
               sum({_billed('billable_s', 'coalesce(customer_first_increment_s, 1)', 'coalesce(customer_next_increment_s, 1)')}) AS cust_s,
               sum({_billed('billable_s', 'coalesce(provider_first_increment_s, 1)', 'coalesce(provider_next_increment_s, 1)')}) AS prov_s,
               sum(customer_charge) AS charge, sum(provider_cost) AS cost
        FROM dest
        GROUP BY ALL
        ORDER BY tenant_id NULLS LAST, customer NULLS LAST, provider NULLS LAST, country NULLS LAST,
                 prefix NULLS LAST, day NULLS LAST
        """,
        [start, end, tenants, tenants, customers, customers, providers, providers],
    ).fetchall()
    out = []
    for (tenant, cust, provider, country, prefix, day, attempts, answered, ner, answered_s, avg_pdd,
         cust_s, prov_s, charge, cost) in rows:
        profit = None if charge is None or cost is None else charge - cost
        margin = None
        if profit is not None and charge != 0:
            margin = round_half_away(float(decimal.Decimal(100) * profit / charge))
        out.append((
            tenant, cust, provider, country, prefix, day, attempts, answered,
            round_half_away(100 * answered / attempts),
            round_half_away(100 * ner / attempts),
            round_half_away(answered_s / answered) if answered and answered_s is not None else None,
            round_half_away(float(avg_pdd)) if avg_pdd is not None else None,
            round_half_away(cust_s / 60) if cust_s is not None else None,
            round_half_away(prov_s / 60) if prov_s is not None else None,
            charge, cost, profit, margin,
        ))
    return COLS, out
