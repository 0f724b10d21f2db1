"""phone_numbers_in_use, from its header: every assigned number with its user's name, SIP
address and enabled flag, and the distinct calls of the same tenant invited in the local period
whose caller_number or callee_number is the number (count, latest local invite_time)."""

import datetime as dt

from _common import in_list, local, ts


def _default(days):
    return dt.datetime.combine(dt.datetime.now(dt.UTC).date(), dt.time()) + dt.timedelta(days=days)


def run(con, args):
    tenants = in_list(args.get("tenant"))
    types = in_list(args.get("param:number_type"))
    start = ts(args.get("from")) or _default(-30)
    end = ts(args.get("to")) or _default(1)
    rows = con.execute(
        f"""
        WITH n AS (
          SELECT * FROM numbers
          WHERE assigned_to IS NOT NULL
            AND (? IS NULL OR list_contains(?, tenant_id))
            AND (? IS NULL OR list_contains(?, number_type))
        ), c AS (
          SELECT c.tenant_id, c.call_id, c.caller_number, c.callee_number,
                 {local('c.invite_time')} AS local_invite
          FROM calls c JOIN tenants t USING (tenant_id)
          WHERE {local('c.invite_time')} >= ? AND {local('c.invite_time')} < ?
            AND (? IS NULL OR list_contains(?, c.tenant_id))
        ), ends AS (
          -- each call once per number it uses (as caller, as callee, or both)
          SELECT tenant_id, call_id, local_invite, caller_number AS number FROM c WHERE caller_number IS NOT NULL
          UNION
          SELECT tenant_id, call_id, local_invite, callee_number AS number FROM c WHERE callee_number IS NOT NULL
        ), uses AS (
          SELECT e.* FROM ends e JOIN n ON n.tenant_id = e.tenant_id AND n.number = e.number
        ), agg AS (
          SELECT tenant_id, number, count(DISTINCT call_id) AS calls, max(local_invite) AS last_call
          FROM uses GROUP BY tenant_id, number
        )
        SELECT n.tenant_id, n.number, n.number_type, n.assigned_to,
               u.display_name, u.sip_address, u.enabled,
               coalesce(a.calls, 0) AS calls, a.last_call
        FROM n
        LEFT JOIN users u ON u.tenant_id = n.tenant_id AND u.user_id = n.assigned_to
        LEFT JOIN agg a ON a.tenant_id = n.tenant_id AND a.number = n.number
        ORDER BY n.tenant_id, n.number
        """,
        [tenants, tenants, types, types, start, end, tenants, tenants],
    ).fetchall()
    return ["tenant_id", "number", "number_type", "assigned_to", "display_name", "sip_address", "enabled",
            "calls", "last_call"], rows
