-- @title PSTN conference minutes
-- @seed 000 hosted Skype for Business portal: PSTN Conference Minutes
-- @description PSTN call-seconds per conference, with the organizer and the number of
--   participants, over the period. A conference leg is a row of `calls` with a non-NULL
--   conference_id; only legs whose invite_time falls in the period (tenant-local, `from`
--   inclusive, `to` exclusive) count, so a conference whose legs straddle a period bound is
--   counted with the legs inside the period only. A PSTN leg is a leg with is_pstn = true
--   (NULL or false is not PSTN). One row per tenant and conference_id that has at least one
--   answered PSTN leg in the period (conferences without PSTN participation are not listed).
--   Columns: tenant_id; conference_id; organizer (text: conference_organizer of the
--   conference's legs in the period, the smallest value if they disagree, NULL if none
--   records it); organizer_name (text: users.display_name of the user whose user_id, in the
--   same tenant, equals organizer; NULL when there is no such user); first_join (timestamp,
--   tenant-local wall-clock time: the earliest invite_time among the conference's legs in the
--   period, any disposition); participants (integer: legs in the period with disposition
--   'answered', PSTN or not; a person who joins twice counts twice); pstn_participants
--   (integer: answered PSTN legs); pstn_seconds (integer: sum of billable_s over the
--   conference's PSTN legs in the period; billable_s is 0 for unanswered legs);
--   pstn_minutes (double: pstn_seconds / 60 rounded to 2 decimals). Rows are ordered by
--   tenant_id, first_join, conference_id.
--   v2 reads the conference_legs rollup (the calls rows with a conference_id), so it
--   returns the same rows as v1 without scanning every call of the period.
-- @param from | timestamp | date_trunc('day', now()) - INTERVAL '30 days' | Start of the period (tenant-local time, inclusive).
-- @param to | timestamp | date_trunc('day', now()) + INTERVAL '1 day' | End of the period (tenant-local time, exclusive).
-- @param tenant | text | NULL | Only these tenants (comma-separated ids); NULL for all.
WITH legs AS (
    SELECT c.tenant_id, c.conference_id, c.conference_organizer, c.disposition,
           coalesce(c.is_pstn, false) AS pstn, c.billable_s,
           local_time(c.invite_time, t.time_zone) AS invite_local
    FROM conference_legs c JOIN tenants t ON t.tenant_id = c.tenant_id
    WHERE c.invite_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND c.invite_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND local_time(c.invite_time, t.time_zone) >= $from
      AND local_time(c.invite_time, t.time_zone) < $to
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), c.tenant_id))
),
conf AS (
    SELECT tenant_id, conference_id,
           min(conference_organizer) AS organizer,
           min(invite_local) AS first_join,
           count(*) FILTER (WHERE disposition = 'answered') AS participants,
           count(*) FILTER (WHERE disposition = 'answered' AND pstn) AS pstn_participants,
           coalesce(sum(billable_s) FILTER (WHERE pstn), 0) AS pstn_seconds
    FROM legs
    GROUP BY tenant_id, conference_id
)
SELECT f.tenant_id, f.conference_id, f.organizer, u.display_name AS organizer_name,
       f.first_join, f.participants, f.pstn_participants, f.pstn_seconds,
       round(CAST(f.pstn_seconds AS DOUBLE) / 60, 2) AS pstn_minutes
FROM conf f
LEFT JOIN users u ON u.tenant_id = f.tenant_id AND u.user_id = f.organizer
WHERE f.pstn_participants > 0
ORDER BY f.tenant_id, f.first_join, f.conference_id
