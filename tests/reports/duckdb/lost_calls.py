"""lost_calls, from its header: every lost team call (team_id set, no conference, inbound,
disposition lost_to_queue / no_answer / busy) with local invite_time in [from, to), with the
team's name, the local date and wall-clock time, the tenant's UTC offset at that instant
('+HH:MM'), the call's parties, disposition, end reason, waiting_s = duration_s and voicemail
(false when NULL). Ordered by tenant_id, team_id, invite_time (UTC), call_id."""

from _common import in_list, local, ts


def run(con, args):
    tenants = in_list(args.get("tenant"))
    teams = in_list(args.get("param:team"))
    rows = con.execute(
        f"""
        WITH l AS (
          SELECT c.*, {local('c.invite_time')} AS loc,
                 CAST(round((epoch({local('c.invite_time')}) - epoch(c.invite_time)) / 60) AS BIGINT) AS off_min
          FROM calls c JOIN tenants t USING (tenant_id)
          WHERE {local('c.invite_time')} >= ? AND {local('c.invite_time')} < ?
            AND (? IS NULL OR list_contains(?, c.tenant_id))
            AND (? IS NULL OR list_contains(?, c.team_id))
            AND c.team_id IS NOT NULL AND c.conference_id IS NULL AND c.direction = 'inbound'
            AND c.disposition IN ('lost_to_queue', 'no_answer', 'busy')
        )
        SELECT l.tenant_id, l.team_id, tm.name AS team_name, l.call_id,
               CAST(l.loc AS DATE) AS call_date, l.loc AS call_time,
               (CASE WHEN off_min < 0 THEN '-' ELSE '+' END)
                 || lpad(CAST(abs(off_min) // 60 AS VARCHAR), 2, '0') || ':'
                 || lpad(CAST(abs(off_min) % 60 AS VARCHAR), 2, '0') AS utc_offset,
               l.caller_number, l.caller_user, l.callee_number, l.callee_user,
               l.disposition, l.end_reason, l.duration_s AS waiting_s,
               coalesce(l.voicemail, false) AS voicemail
        FROM l LEFT JOIN teams tm ON tm.tenant_id = l.tenant_id AND tm.team_id = l.team_id
        ORDER BY l.tenant_id, l.team_id, l.invite_time, l.call_id
        """,
        [ts(args["from"]), ts(args["to"]), tenants, tenants, teams, teams],
    ).fetchall()
    cols = ["tenant_id", "team_id", "team_name", "call_id", "call_date", "call_time", "utc_offset",
            "caller_number", "caller_user", "callee_number", "callee_user", "disposition",
            "end_reason", "waiting_s", "voicemail"]
    return cols, rows
