"""team_stats, from its header: per (tenant_id, team_id) in teams or on a counted team call / IM
session (tenant and team filters; zeros for idle teams). Team calls: team_id set, no conference,
local invite_time in [from, to); queue call = inbound to a numbers row of the tenant with
number_type 'queue'; direct = other inbound, and outbound. Team IM sessions: team_id set, local
start_time in [from, to). Counts bigint (0 when none); averages 2 dp, NULL over nothing."""

from _common import in_list, local, ts
from _ref import round_half_away


def run(con, args):
    tenants = in_list(args.get("tenant"))
    teams = in_list(args.get("param:team"))
    rows = con.execute(
        f"""
        WITH tc AS (
          SELECT c.*, (c.direction = 'inbound' AND q.number IS NOT NULL) AS is_queue,
                 ((c.direction = 'inbound' AND q.number IS NULL) OR c.direction = 'outbound') AS is_direct
          FROM calls c JOIN tenants t USING (tenant_id)
          LEFT JOIN (SELECT DISTINCT tenant_id, number FROM numbers WHERE number_type = 'queue') q
            ON q.tenant_id = c.tenant_id AND q.number = c.callee_number
          WHERE c.team_id IS NOT NULL AND c.conference_id IS NULL
            AND {local('c.invite_time')} >= $from AND {local('c.invite_time')} < $to
        ),
        cs AS (
          SELECT tenant_id, team_id,
                 count(*) FILTER (WHERE direction = 'inbound' AND disposition = 'answered') AS accepted_calls,
                 count(*) FILTER (WHERE direction = 'inbound'
                                  AND disposition IN ('lost_to_queue', 'no_answer', 'busy')) AS lost_calls,
                 count(*) AS total_calls,
                 count(*) FILTER (WHERE direction = 'inbound' AND is_direct) AS inbound_direct_calls,
                 count(*) FILTER (WHERE direction = 'outbound') AS outbound_direct_calls,
                 count(*) FILTER (WHERE direction = 'internal') AS internal_calls,
                 avg(billable_s) FILTER (WHERE disposition = 'answered') AS avg_call,
                 avg(billable_s) FILTER (WHERE disposition = 'answered' AND is_direct) AS avg_direct,
                 count(*) FILTER (WHERE voicemail) AS voicemails
          FROM tc GROUP BY 1, 2
        ),
        ms AS (
          SELECT m.tenant_id, m.team_id,
                 count(*) FILTER (WHERE m.direction = 'inbound' AND m.outcome = 'accepted') AS accepted_ims,
                 count(*) FILTER (WHERE m.direction = 'inbound' AND m.outcome = 'lost') AS lost_ims,
                 count(*) AS total_ims,
                 avg(epoch(m.end_time) - epoch(m.start_time))
                   FILTER (WHERE m.outcome = 'accepted' AND m.end_time IS NOT NULL) AS avg_im
          FROM messages m JOIN tenants t USING (tenant_id)
          WHERE m.team_id IS NOT NULL
            AND {local('m.start_time')} >= $from AND {local('m.start_time')} < $to
          GROUP BY 1, 2
        ),
        k AS (
          SELECT tenant_id, team_id FROM teams UNION SELECT tenant_id, team_id FROM cs
          UNION SELECT tenant_id, team_id FROM ms
        )
        SELECT k.tenant_id, k.team_id, tm.name,
               coalesce(cs.accepted_calls, 0), coalesce(cs.lost_calls, 0), coalesce(cs.total_calls, 0),
               coalesce(cs.inbound_direct_calls, 0), coalesce(cs.outbound_direct_calls, 0),
               coalesce(cs.internal_calls, 0), cs.avg_call, cs.avg_direct,
               coalesce(ms.accepted_ims, 0), coalesce(ms.lost_ims, 0), coalesce(ms.total_ims, 0),
               ms.avg_im, coalesce(cs.voicemails, 0)
        FROM k LEFT JOIN teams tm USING (tenant_id, team_id)
             LEFT JOIN cs USING (tenant_id, team_id) LEFT JOIN ms USING (tenant_id, team_id)
        WHERE ($tenants IS NULL OR list_contains($tenants, k.tenant_id))
          AND ($teams IS NULL OR list_contains($teams, k.team_id))
        ORDER BY k.tenant_id, k.team_id
        """,
        {"from": ts(args["from"]), "to": ts(args["to"]), "tenants": tenants, "teams": teams},
    ).fetchall()
    out = []
    for r in rows:
        r = list(r)
        for i in (9, 10, 14):
            r[i] = round_half_away(r[i], 2)
        out.append(tuple(r))
    cols = ["tenant_id", "team_id", "team_name", "accepted_calls", "lost_calls", "total_calls",
            "inbound_direct_calls", "outbound_direct_calls", "internal_calls", "avg_call_duration_s",
            "avg_direct_call_duration_s", "accepted_ims", "lost_ims", "total_ims", "avg_im_duration_s",
            "voicemails"]
    return cols, out
