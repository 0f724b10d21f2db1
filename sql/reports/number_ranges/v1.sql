-- @title Number ranges
-- @seed 000 hosted Skype for Business portal: Number Range report
-- @description The phone-number ranges of each tenant, from the `numbers` inventory (no
--   period: the inventory as it is now), with how much of each range is allocated. A range
--   is a distinct (tenant_id, range_start, range_end) of `numbers`; numbers with a NULL
--   range_start or range_end form one extra row per tenant for the numbers outside any range.
--   Columns: tenant_id; range_start and range_end (text, E.164; both NULL on the
--   outside-any-range row); location (text: npa_state(range_start), the US state, Canadian
--   province or other NANP country of the range's first number, e.g. 'NY'; NULL outside the
--   NANP, for non-geographic numbers, and on the outside-any-range row); size (integer: the
--   number of numbers the range spans, range_end - range_start + 1 with both read as
--   integers after dropping the '+'; NULL on the outside-any-range row); listed (integer:
--   rows of `numbers` in the range); assigned (integer: listed numbers whose assigned_to is
--   not NULL); free (integer: listed numbers whose assigned_to is NULL, listed - assigned);
--   allocated_pct (double: 100 * assigned / size rounded to 2 decimals, the share of the
--   range that is allocated; NULL when size is NULL or 0). Rows are ordered by tenant_id,
--   range_start (the outside-any-range row last), range_end.
-- @param tenant | text | NULL | Only these tenants (comma-separated ids); NULL for all.
WITH n AS (
    SELECT tenant_id,
           CASE WHEN range_start IS NOT NULL AND range_end IS NOT NULL THEN range_start END AS range_start,
           CASE WHEN range_start IS NOT NULL AND range_end IS NOT NULL THEN range_end END AS range_end,
           assigned_to
    FROM numbers
    WHERE ($tenant IS NULL OR array_has(string_to_array($tenant, ','), tenant_id))
),
r AS (
    SELECT tenant_id, range_start, range_end,
           count(*) AS listed,
           count(assigned_to) AS assigned
    FROM n
    GROUP BY tenant_id, range_start, range_end
),
s AS (
    SELECT tenant_id, range_start, range_end, listed, assigned,
           CAST(substr(range_end, 2) AS BIGINT) - CAST(substr(range_start, 2) AS BIGINT) + 1 AS size
    FROM r
)
SELECT tenant_id, range_start, range_end,
       npa_state(range_start) AS location,
       size, listed, assigned,
       listed - assigned AS free,
       round(100 * CAST(assigned AS DOUBLE) / nullif(size, 0), 2) AS allocated_pct
FROM s
ORDER BY tenant_id, range_start NULLS LAST, range_end NULLS LAST
