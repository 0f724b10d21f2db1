"""time_of_day_heatmap, from its header: per team of the teams table (after the tenant and team
filters), local ISO weekday (1 = Monday) and local hour, over the tenant-local window
[to - 7 x weeks days, to): accepted and lost conversations. kind 'calls': inbound, non-conference
team calls by local invite_time, accepted = answered, lost = lost_to_queue / no_answer / busy;
kind 'ims': inbound team messages by local start_time, accepted / lost by outcome. All 168 cells
per team (zeros included); lost_pct = 100 x lost / total, 2 dp, NULL when total is 0."""

import datetime as dt

from _common import in_list, local, ts
from _ref import round_half_away


def run(con, args):
    tenants = in_list(args.get("tenant"))
    teams = in_list(args.get("param:team"))
    weeks = int(args.get("param:weeks", 4))
    if weeks not in (1, 2, 3, 4):
        raise ValueError(f"weeks must be 1, 2, 3 or 4, not {weeks}")
    kind = args.get("param:kind", "calls").lower()
    if kind == "calls":
        src = f"""
          SELECT c.tenant_id, c.team_id, {local('c.invite_time')} AS loc,
                 c.disposition = 'answered' AS acc,
                 c.disposition IN ('lost_to_queue', 'no_answer', 'busy') AS lst
          FROM calls c JOIN tenants t USING (tenant_id)
          WHERE c.team_id IS NOT NULL AND c.conference_id IS NULL AND c.direction = 'inbound'"""
    elif kind == "ims":
        src = f"""
          SELECT m.tenant_id, m.team_id, {local('m.start_time')} AS loc,
                 m.outcome = 'accepted' AS acc, m.outcome = 'lost' AS lst
          FROM messages m JOIN tenants t USING (tenant_id)
          WHERE m.team_id IS NOT NULL AND m.direction = 'inbound'"""
    else:
        raise ValueError(f"kind must be 'calls' or 'ims', not {kind!r}")
    end = ts(args["to"])
    start = end - dt.timedelta(days=7 * weeks)
    rows = con.execute(
        f"""
        WITH tm AS (
          SELECT tenant_id, team_id, name FROM teams
          WHERE (? IS NULL OR list_contains(?, tenant_id)) AND (? IS NULL OR list_contains(?, team_id))
        ), ev AS (
          SELECT tenant_id, team_id, isodow(loc) AS weekday, hour(loc) AS hour,
                 count(*) FILTER (WHERE acc) AS accepted, count(*) FILTER (WHERE lst) AS lost
          FROM ({src}) WHERE loc >= ? AND loc < ?
          GROUP BY ALL
        ), cells AS (
          SELECT tm.*, d.weekday, h.hour
          FROM tm, range(1, 8) d(weekday), range(0, 24) h(hour)
        )
        SELECT c.tenant_id, c.team_id, c.name AS team_name,
               CAST(c.weekday AS BIGINT) AS weekday, CAST(c.hour AS BIGINT) AS hour,
               CAST(coalesce(e.accepted, 0) AS BIGINT) AS accepted,
               CAST(coalesce(e.lost, 0) AS BIGINT) AS lost
        FROM cells c LEFT JOIN ev e
          ON e.tenant_id = c.tenant_id AND e.team_id = c.team_id
         AND e.weekday = c.weekday AND e.hour = c.hour
        ORDER BY c.tenant_id, c.team_id, c.weekday, c.hour
        """,
        [tenants, tenants, teams, teams, start, end],
    ).fetchall()
    out = []
    for t, team, name, wd, hr, a, lo in rows:
        total = a + lo
        out.append((t, team, name, wd, hr, a, lo, total, round_half_away(100 * lo / total, 2) if total else None))
    cols = ["tenant_id", "team_id", "team_name", "weekday", "hour", "accepted", "lost", "total", "lost_pct"]
    return cols, out
