package io.veil.trino;

import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The names of the catalogs this plugin's {@code veil} connector serves on this node. One instance is
 * shared by the connector factory, which adds each catalog it creates, the system access control,
 * which never governs a governed catalog's own views and keeps their keyed functions to the run-as user,
 * and the query audit, which marks the views of these catalogs as governed views.
 */
public final class VeilCatalogs
{
    private final Set<String> names = ConcurrentHashMap.newKeySet();

    public void add(String catalogName)
    {
        names.add(catalogName.toLowerCase(Locale.ENGLISH));
    }

    public boolean contains(String catalogName)
    {
        return names.contains(catalogName.toLowerCase(Locale.ENGLISH));
    }
}
