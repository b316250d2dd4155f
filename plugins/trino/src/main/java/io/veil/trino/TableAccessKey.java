package io.veil.trino;

import io.trino.spi.connector.CatalogSchemaTableName;

import java.util.List;

import static java.util.Objects.requireNonNull;

/**
 * Who asked about which backing table: the key of a cached {@link TableAccess}.
 *
 * @param groups the user's Trino groups, sorted, so that the same set always makes the same key
 */
public record TableAccessKey(String user, List<String> groups, String project, String catalog, String schema, String table)
{
    public TableAccessKey
    {
        requireNonNull(user, "user is null");
        groups = List.copyOf(requireNonNull(groups, "groups is null"));
        requireNonNull(project, "project is null");
        requireNonNull(catalog, "catalog is null");
        requireNonNull(schema, "schema is null");
        requireNonNull(table, "table is null");
    }

    public static TableAccessKey of(PdpIdentity identity, CatalogSchemaTableName table)
    {
        return new TableAccessKey(
                identity.user(),
                identity.groups(),
                identity.project(),
                table.getCatalogName(),
                table.getSchemaTableName().getSchemaName(),
                table.getSchemaTableName().getTableName());
    }

    /**
     * Whether a change may have made the cached answer stale: everything, the key's user, or the data
     * source the answer names. An answer that names no data source (an unregistered table) may be
     * governed by any data source a change names, so every data-source change drops it.
     */
    public static boolean affects(ChangeSet change, TableAccessKey key, java.util.Optional<TableAccess> answer)
    {
        if (change.everything() || change.users().contains(key.user())) {
            return true;
        }
        if (change.dataSources().isEmpty()) {
            return false;
        }
        return answer.flatMap(TableAccess::dataSource)
                .map(change.dataSources()::contains)
                .orElse(true);
    }
}
