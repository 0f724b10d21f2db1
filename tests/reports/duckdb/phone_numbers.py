"""phone_numbers, from its header: every row of `numbers` with its holder's display name (a user
of the same tenant), availability (assigned_to NULL) and range; filters on tenant and type."""

from _common import in_list


def run(con, args):
    tenants = in_list(args.get("tenant"))
    types = in_list(args.get("param:number_type"))
    rows = con.execute(
        """
        SELECT n.tenant_id, n.number, n.number_type, n.assigned_to, u.display_name AS assigned_name,
               n.assigned_to IS NULL AS available, n.range_start, n.range_end
        FROM numbers n
        LEFT JOIN users u ON u.tenant_id = n.tenant_id AND u.user_id = n.assigned_to
        WHERE (? IS NULL OR list_contains(?, n.tenant_id))
          AND (? IS NULL OR list_contains(?, n.number_type))
        ORDER BY n.tenant_id, n.number
        """,
        [tenants, tenants, types, types],
    ).fetchall()
    return ["tenant_id", "number", "number_type", "assigned_to", "assigned_name", "available",
            "range_start", "range_end"], rows
