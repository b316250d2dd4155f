package io.veil.trino;

import io.trino.spi.Plugin;
import io.trino.spi.connector.ConnectorFactory;
import io.trino.spi.eventlistener.EventListenerFactory;
import io.trino.spi.security.GroupProviderFactory;
import io.trino.spi.security.SystemAccessControlFactory;

import java.util.List;

/**
 * The Veil Trino plugin: the {@code veil} connector, whose catalogs expose per-user views decided by
 * the Veil policy decision point; the {@code veil} system access control, which applies the same
 * policies to the backing tables themselves (native enforcement); the {@code veil} event listener,
 * which hands completed queries to the PDP's query audit; and the {@code veil-file} group provider, a
 * small stand-in for tests and simple setups.
 */
public final class VeilPlugin
        implements Plugin
{
    // Shared: the access control never governs the connector's own catalogs, and the query audit
    // marks their views.
    private final VeilCatalogs veilCatalogs = new VeilCatalogs();
    // Shared: the connector and the access control note each query's project, the query audit takes it.
    private final QueryProjects queryProjects = new QueryProjects();

    @Override
    public Iterable<ConnectorFactory> getConnectorFactories()
    {
        return List.of(new VeilConnectorFactory(veilCatalogs, queryProjects));
    }

    @Override
    public Iterable<SystemAccessControlFactory> getSystemAccessControlFactories()
    {
        return List.of(new VeilAccessControlFactory(veilCatalogs, queryProjects));
    }

    @Override
    public Iterable<EventListenerFactory> getEventListenerFactories()
    {
        return List.of(new VeilEventListenerFactory(veilCatalogs, queryProjects));
    }

    @Override
    public Iterable<GroupProviderFactory> getGroupProviderFactories()
    {
        return List.of(new FileGroupProviderFactory());
    }
}
