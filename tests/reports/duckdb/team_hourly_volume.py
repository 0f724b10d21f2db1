"""team_hourly_volume, from its header: per team and tenant-local hour (date_trunc('hour', local
time), so the two UTC hours of a fall-back share a row), accepted and lost calls (team_id set,
no conference, inbound; answered vs lost_to_queue / no_answer / busy, by local invite_time) and
accepted and lost IM sessions (team_id set, inbound; outcome accepted / lost, by local
start_time). Only hours with a counted call or IM session; ordered by tenant_id, team_id, hour."""

from _common import in_list, local, ts


def run(con, args):
    tenants = in_list(args.get("tenant"))
    teams = in_list(args.get("param:team"))
    rows = con.execute(
        f"""
        WITH ev AS (
          SELECT c.tenant_id, c.team_id, date_trunc('hour', {local('c.invite_time')}) AS hour,
                 (c.disposition = 'answered')::INT AS ac,
                 (c.disposition IN ('lost_to_queue', 'no_answer', 'busy'))::INT AS lc,
                 0 AS ai, 0 AS li
          FROM calls c JOIN tenants t USING (tenant_id)
          WHERE {local('c.invite_time')} >= $from AND {local('c.invite_time')} < $to
            AND c.team_id IS NOT NULL AND c.conference_id IS NULL AND c.direction = 'inbound'
            AND c.disposition IN ('answered', 'lost_to_queue', 'no_answer', 'busy')
          UNION ALL
          SELECT m.tenant_id, m.team_id, date_trunc('hour', {local('m.start_time')}),
                 0, 0, (m.outcome = 'accepted')::INT, (m.outcome = 'lost')::INT
          FROM messages m JOIN tenants t USING (tenant_id)
          WHERE {local('m.start_time')} >= $from AND {local('m.start_time')} < $to
            AND m.team_id IS NOT NULL AND m.direction = 'inbound'
            AND m.outcome IN ('accepted', 'lost')
        )
        SELECT tenant_id, team_id, hour, sum(ac)::BIGINT, sum(lc)::BIGINT, sum(ai)::BIGINT, sum(li)::BIGINT
        FROM ev
        WHERE ($tenants IS NULL OR list_contains($tenants, tenant_id))
          AND ($teams IS NULL OR list_contains($teams, team_id))
        GROUP BY ALL
        ORDER BY tenant_id, team_id, hour
        """,
        {"from": ts(args["from"]), "to": ts(args["to"]), "tenants": tenants, "teams": teams},
    ).fetchall()
    return ["tenant_id", "team_id", "hour", "accepted_calls", "lost_calls", "accepted_ims", "lost_ims"], rows
