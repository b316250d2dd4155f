package io.veil.trino;

import java.util.Set;

/**
 * What one change event from the PDP says may have changed: some data sources ({@code schema.table}),
 * some users, or everything.
 */
public record ChangeSet(boolean everything, Set<String> dataSources, Set<String> users)
{
    public ChangeSet
    {
        dataSources = Set.copyOf(dataSources);
        users = Set.copyOf(users);
    }

    public static ChangeSet everythingChanged()
    {
        return new ChangeSet(true, Set.of(), Set.of());
    }

    /** Whether the cached view for this key may be stale after the change. */
    public boolean affects(ViewKey key)
    {
        return everything || dataSources.contains(key.dataSource()) || users.contains(key.user());
    }
}
