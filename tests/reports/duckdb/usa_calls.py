"""usa_calls, from its header: per tenant with at least one counted call (local invite_time in
[from, to), tenant/customer/provider filters), four rows, one per jurisdiction category, zeros
included: calls, connected (answered), duration_min = sum(billable_s of connected) / 60 (2 dp,
0 when none), avg_duration_s = sum(billable_s) / connected (2 dp, NULL when none) and note.
by 'state' (anything but 'lata' in any case): jurisdiction(caller, callee), NULL -> 'indeterminate'.
by 'lata': 'international' when jurisdiction() says so, else jurisdiction_lata() when intralata /
interlata, else 'indeterminate'; without a rate_centers table jurisdiction_lata is NULL, so every
other call is indeterminate and note says the table is not loaded."""

import sys
from pathlib import Path

from _common import in_list, local, ts
from _ref import round_half_away

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benches"))
from functions import jurisdiction_sql, load_npa  # noqa: E402

_ROOT = Path(__file__).resolve().parents[3]
NOTE = "rate-center table not loaded: LATA unknown, US calls are indeterminate"


def run(con, args):
    tenants = in_list(args.get("tenant"))
    customers = in_list(args.get("customer"))
    providers = in_list(args.get("provider"))
    by_lata = (args.get("param:by") or "state").lower() == "lata"
    load_npa(con, _ROOT / "data" / "nanp" / "npa.csv")
    has_rc = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'rate_centers'").fetchone()[0] > 0
    if by_lata and has_rc:
        raise NotImplementedError("jurisdiction_lata with a rate_centers table")
    cats = (["intralata", "interlata", "indeterminate", "international"] if by_lata
            else ["intrastate", "interstate", "indeterminate", "international"])
    if by_lata:
        cat = "CASE WHEN j = 'international' THEN 'international' ELSE 'indeterminate' END"
    else:
        cat = "coalesce(j, 'indeterminate')"
    src = f"""(
        SELECT c.* FROM calls c JOIN tenants t USING (tenant_id)
        WHERE {local('c.invite_time')} >= $from AND {local('c.invite_time')} < $to
          AND ($tenants IS NULL OR list_contains($tenants, c.tenant_id))
          AND ($customers IS NULL OR list_contains($customers, c.customer))
          AND ($providers IS NULL OR list_contains($providers, c.provider)))"""
    rows = con.execute(
        f"""
        SELECT tenant_id, {cat} AS category, count(*) AS calls,
               count(*) FILTER (WHERE disposition = 'answered') AS connected,
               coalesce(sum(billable_s) FILTER (WHERE disposition = 'answered'), 0) AS secs
        FROM ({jurisdiction_sql(src, extra=('tenant_id', 'disposition', 'billable_s'))})
        GROUP BY ALL
        """,
        {"from": ts(args["from"]), "to": ts(args["to"]), "tenants": tenants,
         "customers": customers, "providers": providers},
    ).fetchall()
    got = {(t, c): (n, a, s) for t, c, n, a, s in rows}
    out = []
    for t in sorted({t for t, *_ in rows}):
        for c in cats:
            n, a, s = got.get((t, c), (0, 0, 0))
            out.append((t, c, n, a, round_half_away(s / 60, 2),
                        round_half_away(s / a, 2) if a else None, NOTE if by_lata else None))
    return ["tenant_id", "category", "calls", "connected", "duration_min", "avg_duration_s", "note"], out
