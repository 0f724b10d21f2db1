-- @title Enabled users
-- @seed 000 hosted Skype for Business portal: Enabled Users
-- @description The tenant's user accounts from the users table, one row per user, with the
--   columns the portal lets an admin pick (a client selects the ones it wants). Not a
--   period report. Columns: tenant_id; user_id; display_name; enabled (boolean); sip_address;
--   number (E.164; NULL when none is assigned); features (text: the features list joined
--   with ', ' in stored order; NULL when the list is NULL, '' when it is empty);
--   enterprise_voice (boolean: features contains 'enterprise_voice'; false when features is
--   NULL); team_id; team_name (teams.name on tenant_id and team_id; NULL when the user has no
--   team or the team is not in teams). Filters: `enabled` keeps only users whose enabled
--   equals it (NULL keeps all); `team` keeps only users whose team_id is in the list (users
--   without a team are then dropped). Rows are ordered by tenant_id, user_id.
-- @param tenant | text | NULL | Only these tenants (comma-separated ids); NULL for all.
-- @param enabled | bool | NULL | true for enabled users only, false for disabled users only; NULL for all.
-- @param team | text | NULL | Only users of these teams (comma-separated team ids); NULL for all.
SELECT u.tenant_id, u.user_id, u.display_name, u.enabled, u.sip_address, u.number,
       array_to_string(u.features, ', ') AS features,
       coalesce(array_has(u.features, 'enterprise_voice'), false) AS enterprise_voice,
       u.team_id, tm.name AS team_name
FROM users u
LEFT JOIN teams tm ON tm.tenant_id = u.tenant_id AND tm.team_id = u.team_id
WHERE ($tenant IS NULL OR array_has(string_to_array($tenant, ','), u.tenant_id))
  AND ($enabled IS NULL OR u.enabled = $enabled)
  AND ($team IS NULL OR array_has(string_to_array($team, ','), u.team_id))
ORDER BY u.tenant_id, u.user_id
