"""pstn_conference_minutes, from its header: per tenant and conference_id over the conference
legs invited in the local period, for conferences with at least one answered PSTN leg in it:
organizer (smallest), its display name, first invite (local), answered legs, answered PSTN legs,
PSTN billable seconds and minutes (2 dp)."""

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
        WITH legs AS (
          SELECT c.*, {local('c.invite_time')} AS local_invite
          FROM calls c JOIN tenants t USING (tenant_id)
          WHERE c.conference_id IS NOT NULL
            AND {local('c.invite_time')} >= ? AND {local('c.invite_time')} < ?
            AND (? IS NULL OR list_contains(?, c.tenant_id))
        ), conf AS (
          SELECT tenant_id, conference_id,
                 min(conference_organizer) AS organizer,
                 min(local_invite) AS first_join,
                 count(*) FILTER (WHERE disposition = 'answered') AS participants,
                 count(*) FILTER (WHERE disposition = 'answered' AND is_pstn IS TRUE) AS pstn_participants,
                 coalesce(sum(billable_s) FILTER (WHERE is_pstn IS TRUE), 0) AS pstn_seconds
          FROM legs GROUP BY tenant_id, conference_id
          HAVING count(*) FILTER (WHERE disposition = 'answered' AND is_pstn IS TRUE) > 0
        )
        SELECT f.tenant_id, f.conference_id, f.organizer, u.display_name AS organizer_name,
               f.first_join, f.participants, f.pstn_participants, f.pstn_seconds::BIGINT,
               round(f.pstn_seconds / 60.0, 2)::DOUBLE AS pstn_minutes
        FROM conf f LEFT JOIN users u ON u.tenant_id = f.tenant_id AND u.user_id = f.organizer
        ORDER BY f.tenant_id, f.first_join, f.conference_id
        """,
        [start, end, tenants, tenants],
    ).fetchall()
    return ["tenant_id", "conference_id", "organizer", "organizer_name", "first_join", "participants",
            "pstn_participants", "pstn_seconds", "pstn_minutes"], rows
