"""devices_by_vendor, from its header: call attempts with local invite_time in [from, to), per
tenant, device vendor ('(none)' for a NULL or empty user_agent, 'Other' when no pattern matches)
and model ('(unknown)' when device_model is NULL): calls, answered, share_pct (100 x calls /
tenant's calls, 2 dp), vendor_calls and vendor_share_pct (the same for the vendor, all models).
Ordered by tenant_id, vendor_calls desc, vendor, calls desc, model."""

from _common import in_list, local, ts
from _ref import register_devices, round_half_away


def run(con, args):
    tenants = in_list(args.get("tenant"))
    register_devices(con)
    rows = con.execute(
        f"""
        WITH g AS (
          SELECT c.tenant_id, coalesce(d.vendor, '(none)') AS vendor,
                 coalesce(d.model, '(unknown)') AS model,
                 count(*) AS calls,
                 count(*) FILTER (WHERE c.disposition = 'answered') AS answered
          FROM calls c JOIN tenants t USING (tenant_id)
          LEFT JOIN ua_devices d ON d.user_agent = c.user_agent
          WHERE {local('c.invite_time')} >= ? AND {local('c.invite_time')} < ?
            AND (? IS NULL OR list_contains(?, c.tenant_id))
          GROUP BY ALL
        ), w AS (
          SELECT *, sum(calls) OVER (PARTITION BY tenant_id) AS tenant_calls,
                 sum(calls) OVER (PARTITION BY tenant_id, vendor) AS vendor_calls
          FROM g
        )
        SELECT tenant_id, vendor, model, calls, answered, tenant_calls, vendor_calls FROM w
        ORDER BY tenant_id, vendor_calls DESC, vendor, calls DESC, model
        """,
        [ts(args["from"]), ts(args["to"]), tenants, tenants],
    ).fetchall()
    out = [(t, v, m, n, a, round_half_away(100 * n / tot, 2), int(vn), round_half_away(100 * vn / tot, 2))
           for t, v, m, n, a, tot, vn in rows]
    cols = ["tenant_id", "vendor", "model", "calls", "answered", "share_pct", "vendor_calls", "vendor_share_pct"]
    return cols, out
