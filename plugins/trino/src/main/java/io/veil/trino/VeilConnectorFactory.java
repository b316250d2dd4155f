package io.veil.trino;

import io.trino.spi.Node;
import io.trino.spi.connector.Connector;
import io.trino.spi.connector.ConnectorContext;
import io.trino.spi.connector.ConnectorFactory;

import java.util.Map;

import static java.util.Objects.requireNonNull;

/**
 * Creates a {@link VeilConnector} for each catalog with {@code connector.name=veil}, and records the
 * catalog's name for the system access control.
 */
public final class VeilConnectorFactory
        implements ConnectorFactory
{
    private final VeilCatalogs veilCatalogs;
    private final QueryProjects projects;

    public VeilConnectorFactory(VeilCatalogs veilCatalogs, QueryProjects projects)
    {
        this.veilCatalogs = requireNonNull(veilCatalogs, "veilCatalogs is null");
        this.projects = requireNonNull(projects, "projects is null");
    }

    @Override
    public String getName()
    {
        return "veil";
    }

    @Override
    public Connector create(String catalogName, Map<String, String> properties, ConnectorContext context)
    {
        VeilConfig config = VeilConfig.fromProperties(properties);
        veilCatalogs.add(catalogName);
        Node node = context.getNodeManager().getCurrentNode();
        return VeilConnector.start(catalogName, config, context.getTypeManager(), node.isCoordinator(), node.getNodeIdentifier(), projects);
    }
}
