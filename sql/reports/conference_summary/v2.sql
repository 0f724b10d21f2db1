-- @title Conference summary
-- @seed 000 hosted Skype for Business portal: Conference Summary
-- @description Conference activity per tenant and local day over the `days` days that end at
--   `to` (default: the last 90 days up to the end of today), as the portal's Conference
--   Summary shows it: participants and PSTN participants per day. The period is
--   [to - days days, to), both bounds tenant-local wall-clock times (`to` exclusive). A
--   conference leg is a row of `calls` with a non-NULL conference_id; it belongs to the local
--   day of its invite_time (local_time(invite_time, tenants.time_zone)). Columns:
--   tenant_id; day (date, the tenant-local day); conferences (integer: number of distinct
--   conference_id values among the day's legs of any disposition); participants (integer:
--   legs of the day whose disposition is 'answered', i.e. legs that joined; a person who
--   joins twice counts twice; rejected, failed and unanswered legs do not count);
--   pstn_participants (integer: those answered legs with is_pstn = true; legs with is_pstn
--   NULL or false are not PSTN); attempted_legs (integer: all legs of the day, any
--   disposition, so attempted_legs - participants is the legs that never joined). Only days
--   with at least one leg have a row (no zero rows). Rows are ordered by tenant_id, day.
--   v2 reads the conference_legs rollup (the calls rows with a conference_id), so it
--   returns the same rows as v1 without scanning every call of the period.
-- @param to | timestamp | date_trunc('day', now()) + INTERVAL '1 day' | End of the period (tenant-local time, exclusive).
-- @param days | int | 90 | Length of the period in days, ending at `to`.
-- @param tenant | text | NULL | Only these tenants (comma-separated ids); NULL for all.
WITH p AS (
    SELECT CAST($to AS TIMESTAMP) - CAST(CAST($days AS VARCHAR) || ' days' AS INTERVAL) AS from_local,
           CAST($to AS TIMESTAMP) AS to_local
),
legs AS (
    SELECT c.tenant_id, c.conference_id, c.disposition, c.is_pstn,
           CAST(local_time(c.invite_time, t.time_zone) AS DATE) AS day
    FROM conference_legs c
    JOIN tenants t ON t.tenant_id = c.tenant_id
    CROSS JOIN p
    WHERE c.invite_time >= p.from_local AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND c.invite_time < p.to_local AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND local_time(c.invite_time, t.time_zone) >= p.from_local
      AND local_time(c.invite_time, t.time_zone) < p.to_local
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), c.tenant_id))
)
SELECT tenant_id, day,
       count(DISTINCT conference_id) AS conferences,
       count(*) FILTER (WHERE disposition = 'answered') AS participants,
       count(*) FILTER (WHERE disposition = 'answered' AND is_pstn) AS pstn_participants,
       count(*) AS attempted_legs
FROM legs
GROUP BY tenant_id, day
ORDER BY tenant_id, day
