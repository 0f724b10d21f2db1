"""summary_weekly, from its header: per tenant and tenant-local week (Monday start), counting
each source row in the week and period of its own local time: unique_logins (distinct users with
a successful 'login' registration), im_sessions / im_messages (accepted messages rows and their
message_count), then audio_calls, audio_minutes, video_calls, video_minutes,
app_sharing_sessions, file_transfers (answered calls by media, every leg and direction; minutes =
sum billable_s / 60, 2 dp, half away from zero). A row only for weeks with at least one counted
thing; ordered by tenant, week."""

from _common import in_list, local, ts
from _ref import round_half_away


def run(con, args):
    tenants = in_list(args.get("tenant"))
    rows = con.execute(
        f"""
        WITH ev AS (
          SELECT r.tenant_id, {local('r.event_time')} AS lt, 'login' AS kind, r.user_id AS user_id,
                 0 AS n, 0 AS secs
          FROM registrations r JOIN tenants t USING (tenant_id)
          WHERE r.event_type = 'login' AND r.success
          UNION ALL
          SELECT m.tenant_id, {local('m.start_time')}, 'im', NULL, m.message_count, 0
          FROM messages m JOIN tenants t USING (tenant_id)
          WHERE m.outcome = 'accepted'
          UNION ALL
          SELECT c.tenant_id, {local('c.invite_time')}, c.media, NULL, 0, c.billable_s
          FROM calls c JOIN tenants t USING (tenant_id)
          WHERE c.disposition = 'answered'
            AND c.media IN ('audio', 'video', 'app_sharing', 'file_transfer')
        )
        SELECT tenant_id, CAST(date_trunc('week', lt) AS DATE) AS week,
               count(DISTINCT user_id) FILTER (WHERE kind = 'login') AS unique_logins,
               count(*) FILTER (WHERE kind = 'im') AS im_sessions,
               coalesce(sum(n) FILTER (WHERE kind = 'im'), 0) AS im_messages,
               count(*) FILTER (WHERE kind = 'audio') AS audio_calls,
               count(*) FILTER (WHERE kind = 'video') AS video_calls,
               count(*) FILTER (WHERE kind = 'app_sharing') AS app_sharing_sessions,
               count(*) FILTER (WHERE kind = 'file_transfer') AS file_transfers,
               coalesce(sum(secs) FILTER (WHERE kind = 'audio'), 0) AS audio_s,
               coalesce(sum(secs) FILTER (WHERE kind = 'video'), 0) AS video_s
        FROM ev
        WHERE lt >= ? AND lt < ? AND (? IS NULL OR list_contains(?, tenant_id))
        GROUP BY ALL
        ORDER BY tenant_id, week
        """,
        [ts(args["from"]), ts(args["to"]), tenants, tenants],
    ).fetchall()
    cols = ["tenant_id", "week", "unique_logins", "im_sessions", "im_messages", "audio_calls",
            "audio_minutes", "video_calls", "video_minutes", "app_sharing_sessions",
            "file_transfers"]
    out = [(t, w, int(lg), int(ims), int(imm), int(au), round_half_away(int(aus) / 60, 2),
            int(vi), round_half_away(int(vis) / 60, 2), int(ap), int(ft))
           for t, w, lg, ims, imm, au, vi, ap, ft, aus, vis in rows]
    return cols, out
