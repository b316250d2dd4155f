package io.veil.trino;

import io.trino.spi.Plugin;
import io.trino.spi.connector.ConnectorFactory;

import java.util.List;

/**
 * The Veil Trino plugin: registers the {@code veil} connector, whose catalogs expose per-user views
 * decided by the Veil policy decision point.
 */
public final class VeilPlugin
        implements Plugin
{
    @Override
    public Iterable<ConnectorFactory> getConnectorFactories()
    {
        return List.of(new VeilConnectorFactory());
    }
}
