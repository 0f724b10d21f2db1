-- @title Regression: a join the physical optimizer may swap, inside a report
-- @seed none (test only; run with CDRLAKE_SQL_DIR=tests/reports/regressions)
-- @description Assigned numbers left-joined to their calls in the period. Planned as a report,
--   its physical plan was once optimized twice and failed with "Cannot swap HashJoinExec
--   inputs after dynamic filters have been constructed".
-- @param from | timestamp | date_trunc('day', now()) - INTERVAL '30 days' | Start of the period (tenant-local time, inclusive).
-- @param to | timestamp | date_trunc('day', now()) + INTERVAL '1 day' | End of the period (tenant-local time, exclusive).

WITH n AS (
    SELECT tenant_id, number, number_type, assigned_to
    FROM numbers
    WHERE assigned_to IS NOT NULL

),
c AS (
    SELECT c.tenant_id, c.call_id, c.caller_number, c.callee_number,
           local_time(c.invite_time, t.time_zone) AS invite_local
    FROM calls c JOIN tenants t ON t.tenant_id = c.tenant_id
    WHERE c.invite_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND c.invite_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND local_time(c.invite_time, t.time_zone) >= $from
      AND local_time(c.invite_time, t.time_zone) < $to

      AND (c.caller_number IS NOT NULL OR c.callee_number IS NOT NULL)
),
uses AS (
    SELECT tenant_id, caller_number AS number, call_id, invite_local
    FROM c WHERE caller_number IS NOT NULL
    UNION ALL
    SELECT tenant_id, callee_number AS number, call_id, invite_local
    FROM c WHERE callee_number IS NOT NULL
),
per_number AS (
    SELECT u.tenant_id, u.number,
           count(DISTINCT u.call_id) AS calls,
           max(u.invite_local) AS last_call
    FROM uses u
    GROUP BY u.tenant_id, u.number
)
SELECT n.tenant_id, n.number, n.number_type, n.assigned_to,

       coalesce(p.calls, 0) AS calls,
       p.last_call
FROM n

LEFT JOIN per_number p ON p.tenant_id = n.tenant_id AND p.number = n.number

