"""number_ranges, from its header: per tenant and (range_start, range_end) of `numbers` (a NULL
bound puts the number on the tenant's outside-any-range row): location npa_state(range_start),
size range_end - range_start + 1, listed, assigned, free and allocated_pct = 100 x assigned /
size (2 dp)."""

from _common import in_list
from _ref import npa_state


def run(con, args):
    tenants = in_list(args.get("tenant"))
    rows = con.execute(
        """
        WITH n AS (
          SELECT tenant_id, assigned_to,
                 CASE WHEN range_start IS NOT NULL AND range_end IS NOT NULL THEN range_start END AS rs,
                 CASE WHEN range_start IS NOT NULL AND range_end IS NOT NULL THEN range_end END AS re
          FROM numbers
          WHERE (? IS NULL OR list_contains(?, tenant_id))
        )
        SELECT tenant_id, rs, re,
               CAST(substr(re, 2) AS HUGEINT) - CAST(substr(rs, 2) AS HUGEINT) + 1 AS size,
               count(*) AS listed,
               count(assigned_to) AS assigned,
               count(*) - count(assigned_to) AS free
        FROM n GROUP BY tenant_id, rs, re
        ORDER BY tenant_id, rs NULLS LAST, re NULLS LAST
        """,
        [tenants, tenants],
    ).fetchall()
    out = []
    for t, rs, re_, size, listed, assigned, free in rows:
        size = None if size is None else int(size)
        pct = None if not size else round(100.0 * assigned / size, 2)
        out.append((t, rs, re_, npa_state(rs), size, listed, assigned, free, pct))
    return ["tenant_id", "range_start", "range_end", "location", "size", "listed", "assigned", "free",
            "allocated_pct"], out
