-- @title All phone numbers
-- @seed 000 hosted Skype for Business portal: All Phone Numbers report
-- @description Every phone number of the `numbers` inventory (no period: the inventory as
--   it is now), with whom it is assigned to, its type and whether it is available. One row
--   per row of `numbers`. Columns: tenant_id; number (text, E.164); number_type (text:
--   user, conference, service, auto_attendant, queue, fax or toll_free); assigned_to (text:
--   the user or service id, NULL when free); assigned_name (text: users.display_name of the
--   user of the same tenant whose user_id equals assigned_to; NULL when free or when
--   assigned_to is not a user id, e.g. a service); available (boolean: true when
--   assigned_to is NULL); range_start and range_end (text, E.164: the range the number
--   belongs to; NULL outside any range). Rows are ordered by tenant_id, number.
-- @param tenant | text | NULL | Only these tenants (comma-separated ids); NULL for all.
-- @param number_type | text | NULL | Only these number types (comma-separated: user, conference, service, auto_attendant, queue, fax, toll_free); NULL for all.
SELECT n.tenant_id, n.number, n.number_type, n.assigned_to,
       u.display_name AS assigned_name,
       n.assigned_to IS NULL AS available,
       n.range_start, n.range_end
FROM numbers n
LEFT JOIN users u ON u.tenant_id = n.tenant_id AND u.user_id = n.assigned_to
WHERE ($tenant IS NULL OR array_has(string_to_array($tenant, ','), n.tenant_id))
  AND ($number_type IS NULL OR array_has(string_to_array($number_type, ','), n.number_type))
ORDER BY n.tenant_id, n.number
