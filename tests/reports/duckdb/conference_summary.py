"""conference_summary, from its header: per tenant and local day of invite_time over
[to - days days, to) (tenant-local wall clock): conference legs (calls with a conference_id):
distinct conferences, answered legs (participants), answered PSTN legs, all legs."""

import datetime as dt

from _common import in_list, local, ts


def run(con, args):
    tenants = in_list(args.get("tenant"))
    to = ts(args.get("to")) or dt.datetime.combine(dt.datetime.now(dt.UTC).date(), dt.time()) + dt.timedelta(days=1)
    days = int(args.get("param:days", 90))
    start = to - dt.timedelta(days=days)
    rows = con.execute(
        f"""
        SELECT c.tenant_id, CAST({local('c.invite_time')} AS DATE) AS day,
               count(DISTINCT c.conference_id) AS conferences,
               count(*) FILTER (WHERE c.disposition = 'answered') AS participants,
               count(*) FILTER (WHERE c.disposition = 'answered' AND c.is_pstn IS TRUE) AS pstn_participants,
               count(*) AS attempted_legs
        FROM calls c JOIN tenants t USING (tenant_id)
        WHERE c.conference_id IS NOT NULL
          AND {local('c.invite_time')} >= ? AND {local('c.invite_time')} < ?
          AND (? IS NULL OR list_contains(?, c.tenant_id))
        GROUP BY ALL
        ORDER BY c.tenant_id, day
        """,
        [start, to, tenants, tenants],
    ).fetchall()
    return ["tenant_id", "day", "conferences", "participants", "pstn_participants", "attempted_legs"], rows
