"""enabled_users, from its header: one row per user (not a period report) with
tenant_id, user_id, display_name, enabled, sip_address, number, features (list joined with ', ',
NULL for a NULL list, '' for an empty one), enterprise_voice (features contains it; false for a
NULL list), team_id, team_name (teams.name on tenant and team; NULL without a match).
Filters: tenant list, enabled (NULL keeps all), team list (drops users without a team).
Ordered by tenant_id, user_id."""

from _common import in_list


def _bool(v):
    if v is None:
        return None
    if isinstance(v, bool):
        return v
    return str(v).strip().lower() in ("true", "t", "1", "yes", "y", "on")


def run(con, args):
    tenants = in_list(args.get("tenant"))
    teams = in_list(args.get("param:team"))
    enabled = _bool(args.get("param:enabled"))
    rows = con.execute(
        """
        SELECT u.tenant_id, u.user_id, u.display_name, u.enabled, u.sip_address, u.number,
               CASE WHEN u.features IS NULL THEN NULL ELSE array_to_string(u.features, ', ') END AS features,
               coalesce(list_contains(u.features, 'enterprise_voice'), false) AS enterprise_voice,
               u.team_id, tm.name AS team_name
        FROM users u
        LEFT JOIN teams tm ON tm.tenant_id = u.tenant_id AND tm.team_id = u.team_id
        WHERE (?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], u.tenant_id))
          AND (?::BOOLEAN IS NULL OR u.enabled = ?::BOOLEAN)
          AND (?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], u.team_id))
        ORDER BY u.tenant_id, u.user_id
        """,
        [tenants, tenants, enabled, enabled, teams, teams],
    ).fetchall()
    cols = ["tenant_id", "user_id", "display_name", "enabled", "sip_address", "number", "features",
            "enterprise_voice", "team_id", "team_name"]
    return cols, rows
