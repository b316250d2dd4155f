package io.veil.trino;

import io.trino.spi.connector.Connector;
import io.trino.spi.connector.ConnectorContext;
import io.trino.spi.connector.ConnectorFactory;

import java.util.Map;

/**
 * Creates a {@link VeilConnector} for each catalog with {@code connector.name=veil}.
 */
public final class VeilConnectorFactory
        implements ConnectorFactory
{
    @Override
    public String getName()
    {
        return "veil";
    }

    @Override
    public Connector create(String catalogName, Map<String, String> properties, ConnectorContext context)
    {
        VeilConfig config = VeilConfig.fromProperties(properties);
        boolean coordinator = context.getNodeManager().getCurrentNode().isCoordinator();
        return VeilConnector.start(catalogName, config, context.getTypeManager(), coordinator);
    }
}
