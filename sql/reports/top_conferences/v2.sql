-- @title Top conferences
-- @seed 002 RealConnect dashboard: Top Conferences
-- @description The most attended conferences per tenant over the period. A conference is a
--   calls.conference_id (not NULL); its legs are the calls rows with that conference_id whose
--   local invite_time (local_time(invite_time, tenants.time_zone)) lies in the period, so a
--   conference crossing from or to counts only its legs that started inside. A participant is
--   a connected leg (disposition 'answered'); a room that joins twice counts twice. Columns:
--   tenant_id; rank (bigint, 1 = most attended, per tenant); conference_id; organizer (the
--   conference_organizer of the legs; the smallest value when legs disagree, NULL when none
--   is recorded); participants (bigint, answered legs); pstn_participants (bigint, answered
--   legs with is_pstn true); total_minutes (double, sum of billable_s of the answered legs / 60,
--   rounded to 2 decimals; 0 when none); legs (bigint, all legs including failed, rejected and
--   other unanswered attempts); first_join (timestamp, local wall-clock time of the earliest
--   answer_time of an answered leg; NULL when none); last_leave (timestamp, local wall-clock
--   time of the latest end_time of an answered leg; NULL when none). Conferences are ranked
--   within each tenant by participants descending, then the unrounded sum of billable_s
--   descending, then conference_id; the first `limit` of each tenant are listed (none when
--   limit <= 0). Rows are ordered by tenant_id, rank.
--   v2 reads the conference_legs rollup (the calls rows with a conference_id), so it
--   returns the same rows as v1 without scanning every call of the period.
-- @param from | timestamp | date_trunc('day', now()) - INTERVAL '30 days' | Start of the period (tenant-local time, inclusive).
-- @param to | timestamp | date_trunc('day', now()) + INTERVAL '1 day' | End of the period (tenant-local time, exclusive).
-- @param tenant | text | NULL | Only these tenants (comma-separated ids); NULL for all.
-- @param limit | int | 10 | How many conferences to list per tenant.
WITH c AS (
    SELECT c.tenant_id, c.conference_id, c.conference_organizer,
           c.disposition = 'answered' AS answered, coalesce(c.is_pstn, false) AS is_pstn,
           c.billable_s,
           local_time(c.answer_time, t.time_zone) AS local_answer,
           local_time(c.end_time, t.time_zone) AS local_end
    FROM conference_legs c JOIN tenants t ON t.tenant_id = c.tenant_id
    WHERE c.invite_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND c.invite_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND local_time(c.invite_time, t.time_zone) >= $from
      AND local_time(c.invite_time, t.time_zone) < $to
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), c.tenant_id))
), g AS (
    SELECT tenant_id, conference_id,
           min(conference_organizer) AS organizer,
           count(*) FILTER (WHERE answered) AS participants,
           count(*) FILTER (WHERE answered AND is_pstn) AS pstn_participants,
           coalesce(sum(billable_s) FILTER (WHERE answered), 0) AS seconds,
           count(*) AS legs,
           min(local_answer) FILTER (WHERE answered) AS first_join,
           max(local_end) FILTER (WHERE answered) AS last_leave
    FROM c
    GROUP BY tenant_id, conference_id
), r AS (
    SELECT g.*,
           CAST(row_number() OVER (PARTITION BY tenant_id
                                   ORDER BY participants DESC, seconds DESC, conference_id) AS BIGINT)
               AS rank
    FROM g
)
SELECT tenant_id, rank, conference_id, organizer, participants, pstn_participants,
       round(CAST(seconds AS DOUBLE) / 60, 2) AS total_minutes,
       legs, first_join, last_leave
FROM r
WHERE rank <= $limit
ORDER BY tenant_id, rank
