"""top_conferences, from its header: per tenant and conference_id (not NULL), the legs (calls rows)
invited in the local period; participants = answered legs, pstn_participants = answered legs
with is_pstn, total_minutes = sum(billable_s of answered legs)/60 (2 dp, 0 when none), legs =
all legs, organizer = smallest conference_organizer of the legs, first_join / last_leave = local
wall clock of the earliest answer_time / latest end_time of the answered legs. Ranked per tenant
by participants desc, unrounded answered billable_s desc, conference_id; the first `limit`
(default 10, none when <= 0) of each tenant, ordered by tenant_id, rank."""

from _common import in_list, local, ts
from _ref import round_half_away

COLUMNS = ["tenant_id", "rank", "conference_id", "organizer", "participants", "pstn_participants",
           "total_minutes", "legs", "first_join", "last_leave"]


def run(con, args):
    tenants = in_list(args.get("tenant"))
    limit = int(args.get("param:limit", 10))
    rows = con.execute(
        f"""
        WITH legs AS (
            SELECT c.*, t.time_zone, c.disposition = 'answered' AS ok
            FROM calls c JOIN tenants t USING (tenant_id)
            WHERE c.conference_id IS NOT NULL
              AND {local('c.invite_time')} >= ? AND {local('c.invite_time')} < ?
              AND (? IS NULL OR list_contains(?, c.tenant_id))
        ),
        conf AS (
            SELECT tenant_id, conference_id,
                   min(conference_organizer) AS organizer,
                   count(*) FILTER (WHERE ok) AS participants,
                   count(*) FILTER (WHERE ok AND is_pstn) AS pstn_participants,
                   coalesce(sum(billable_s) FILTER (WHERE ok), 0) AS seconds,
                   count(*) AS legs,
                   {local('min(answer_time) FILTER (WHERE ok)', 'any_value(time_zone)')} AS first_join,
                   {local('max(end_time) FILTER (WHERE ok)', 'any_value(time_zone)')} AS last_leave
            FROM legs
            GROUP BY tenant_id, conference_id
        ),
        ranked AS (
            SELECT *, row_number() OVER (PARTITION BY tenant_id
                                         ORDER BY participants DESC, seconds DESC, conference_id) AS rank
            FROM conf
        )
        SELECT tenant_id, rank, conference_id, organizer, participants, pstn_participants,
               seconds, legs, first_join, last_leave
        FROM ranked
        WHERE rank <= ?
        ORDER BY tenant_id, rank
        """,
        [ts(args["from"]), ts(args["to"]), tenants, tenants, limit],
    ).fetchall()
    out = [(t, r, cid, org, p, pp, round_half_away(float(secs) / 60), n, fj, ll)
           for t, r, cid, org, p, pp, secs, n, fj, ll in rows]
    return COLUMNS, out
