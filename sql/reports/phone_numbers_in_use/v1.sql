-- @title Phone numbers in use
-- @seed 000 hosted Skype for Business portal: Phone Numbers in Use report
-- @description Every assigned phone number (a row of `numbers` whose assigned_to is not
--   NULL), with the name, SIP address and type of its holder, and how it was used in calls
--   over the period. A call uses a number when the number equals the call's caller_number
--   or callee_number; only calls of the same tenant count, of any direction, media and
--   disposition, whose invite_time falls in the period (tenant-local, `from` inclusive, `to`
--   exclusive). Columns: tenant_id; number (text, E.164); number_type (text); assigned_to
--   (text: user or service id); display_name, sip_address and enabled (text, text, boolean:
--   from the user of the same tenant whose user_id equals assigned_to; NULL when
--   assigned_to is not a user id, e.g. a service or bridge); calls (integer: distinct calls
--   in the period that use the number; a call counts once per number even if the number is
--   both caller and callee; 0 when none); last_call (timestamp, tenant-local wall-clock
--   time: the latest invite_time among those calls; NULL when calls is 0). Assigned numbers
--   without calls in the period are listed with calls 0. Rows are ordered by tenant_id,
--   number.
-- @param from | timestamp | date_trunc('day', now()) - INTERVAL '30 days' | Start of the period (tenant-local time, inclusive).
-- @param to | timestamp | date_trunc('day', now()) + INTERVAL '1 day' | End of the period (tenant-local time, exclusive).
-- @param tenant | text | NULL | Only these tenants (comma-separated ids); NULL for all.
-- @param number_type | text | NULL | Only these number types (comma-separated: user, conference, service, auto_attendant, queue, fax, toll_free); NULL for all.
WITH c AS (
    SELECT c.tenant_id, c.call_id, c.caller_number, c.callee_number,
           local_time(c.invite_time, t.time_zone) AS invite_local
    FROM calls c JOIN tenants t ON t.tenant_id = c.tenant_id
    WHERE c.invite_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND c.invite_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND local_time(c.invite_time, t.time_zone) >= $from
      AND local_time(c.invite_time, t.time_zone) < $to
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), c.tenant_id))
      AND (c.caller_number IS NOT NULL OR c.callee_number IS NOT NULL)
),
-- The inventory rows and the calls' numbers in one stream, grouped by number: no join
-- between numbers and calls.
r AS (
    SELECT tenant_id, number, number_type, assigned_to,
           CAST(NULL AS VARCHAR) AS call_id, CAST(NULL AS TIMESTAMP) AS invite_local
    FROM numbers
    WHERE assigned_to IS NOT NULL
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), tenant_id))
      AND ($number_type IS NULL OR array_has(string_to_array($number_type, ','), number_type))
    UNION ALL
    SELECT tenant_id, caller_number, CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR), call_id, invite_local
    FROM c WHERE caller_number IS NOT NULL
    UNION ALL
    SELECT tenant_id, callee_number, CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR), call_id, invite_local
    FROM c WHERE callee_number IS NOT NULL
),
per_number AS (
    SELECT tenant_id, number,
           max(number_type) AS number_type,
           max(assigned_to) AS assigned_to,
           count(DISTINCT call_id) AS calls,
           max(invite_local) AS last_call
    FROM r
    GROUP BY tenant_id, number
    HAVING max(assigned_to) IS NOT NULL
)
SELECT p.tenant_id, p.number, p.number_type, p.assigned_to,
       us.display_name, us.sip_address, us.enabled,
       p.calls, p.last_call
FROM per_number p
LEFT JOIN users us ON us.tenant_id = p.tenant_id AND us.user_id = p.assigned_to
ORDER BY p.tenant_id, p.number
