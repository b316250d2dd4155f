package io.veil.trino;

import io.trino.spi.eventlistener.EventListener;
import io.trino.spi.eventlistener.EventListenerFactory;

import java.util.Map;

import static java.util.Objects.requireNonNull;

/**
 * Creates the query audit ({@link QueryAudit}) for {@code event-listener.name=veil}: one PDP client and
 * the thread that sends completed queries to it.
 */
public final class VeilEventListenerFactory
        implements EventListenerFactory
{
    private final VeilCatalogs veilCatalogs;
    private final QueryProjects projects;

    /**
     * @param veilCatalogs the catalogs of this plugin's connector, whose tables are governed views
     * @param projects where the connector and the access control note each query's project
     */
    public VeilEventListenerFactory(VeilCatalogs veilCatalogs, QueryProjects projects)
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
    public EventListener create(Map<String, String> config, EventListenerContext context)
    {
        QueryAudit audit = QueryAudit.start(VeilAuditConfig.fromProperties(config), veilCatalogs, projects);
        projects.enable();
        return audit;
    }
}
