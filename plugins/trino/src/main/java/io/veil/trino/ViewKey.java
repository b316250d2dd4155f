package io.veil.trino;

import java.util.List;

import static java.util.Objects.requireNonNull;

/**
 * Who asked for which governed table: the key of a cached view definition.
 *
 * @param groups the user's Trino groups, sorted, so that the same set always makes the same key
 */
public record ViewKey(String user, List<String> groups, String project, String schema, String table)
{
    public ViewKey
    {
        requireNonNull(user, "user is null");
        groups = List.copyOf(requireNonNull(groups, "groups is null"));
        requireNonNull(project, "project is null");
        requireNonNull(schema, "schema is null");
        requireNonNull(table, "table is null");
    }

    public static ViewKey of(PdpIdentity identity, String schema, String table)
    {
        return new ViewKey(identity.user(), identity.groups(), identity.project(), schema, table);
    }

    /** The data source name as the PDP's change events spell it. */
    public String dataSource()
    {
        return schema + "." + table;
    }
}
