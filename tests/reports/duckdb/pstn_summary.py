"""pstn_summary, from its header: per tenant and local day of invite_time over the local period,
PSTN calls (is_pstn true, any media/disposition): calls, inbound, outbound, answered, and
billable minutes (2 dp) in total, inbound and outbound."""

import datetime as dt

from _common import in_list, local, ts


def _default(days):
    return dt.datetime.combine(dt.datetime.now(dt.UTC).date(), dt.time()) + dt.timedelta(days=days)


def run(con, args):
    tenants = in_list(args.get("tenant"))
    start = ts(args.get("from")) or _default(-30)
    end = ts(args.get("to")) or _default(1)
    rows = con.execute(
        f"""
        SELECT c.tenant_id, CAST({local('c.invite_time')} AS DATE) AS day,
               count(*) AS calls,
               count(*) FILTER (WHERE c.direction = 'inbound') AS inbound_calls,
               count(*) FILTER (WHERE c.direction = 'outbound') AS outbound_calls,
               count(*) FILTER (WHERE c.disposition = 'answered') AS answered,
               round(sum(c.billable_s) / 60.0, 2)::DOUBLE AS minutes,
               round(coalesce(sum(c.billable_s) FILTER (WHERE c.direction = 'inbound'), 0) / 60.0, 2)::DOUBLE
                 AS inbound_minutes,
               round(coalesce(sum(c.billable_s) FILTER (WHERE c.direction = 'outbound'), 0) / 60.0, 2)::DOUBLE
                 AS outbound_minutes
        FROM calls c JOIN tenants t USING (tenant_id)
        WHERE c.is_pstn IS TRUE
          AND {local('c.invite_time')} >= ? AND {local('c.invite_time')} < ?
          AND (? IS NULL OR list_contains(?, c.tenant_id))
        GROUP BY ALL
        ORDER BY c.tenant_id, day
        """,
        [start, end, tenants, tenants],
    ).fetchall()
    return ["tenant_id", "day", "calls", "inbound_calls", "outbound_calls", "answered", "minutes",
            "inbound_minutes", "outbound_minutes"], rows
