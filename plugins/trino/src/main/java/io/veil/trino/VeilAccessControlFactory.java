package io.veil.trino;

import io.trino.spi.security.SystemAccessControl;
import io.trino.spi.security.SystemAccessControlFactory;

import java.time.Duration;
import java.util.Map;

import static java.util.Objects.requireNonNull;

/**
 * Creates the Veil system access control for {@code access-control.name=veil}: one PDP client, the
 * table-answer cache and the change stream that keeps it honest, exactly like a Veil catalog's.
 */
public final class VeilAccessControlFactory
        implements SystemAccessControlFactory
{
    private final VeilCatalogs veilCatalogs;
    private final QueryProjects projects;

    /**
     * @param veilCatalogs the catalogs of this plugin's connector, which the access control never governs
     * @param projects where each query's project is noted for the query audit
     */
    public VeilAccessControlFactory(VeilCatalogs veilCatalogs, QueryProjects projects)
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
    public SystemAccessControl create(Map<String, String> config, SystemAccessControlContext context)
    {
        return create(VeilAccessConfig.fromProperties(config), veilCatalogs, projects);
    }

    static VeilSystemAccessControl create(VeilAccessConfig config, VeilCatalogs veilCatalogs, QueryProjects projects)
    {
        return create(config, veilCatalogs, projects, Duration.ofMillis(200), Duration.ofSeconds(30));
    }

    /** @param initialBackoff the change stream's first wait before reconnecting, doubled up to {@code maxBackoff} */
    static VeilSystemAccessControl create(VeilAccessConfig config, VeilCatalogs veilCatalogs, QueryProjects projects, Duration initialBackoff, Duration maxBackoff)
    {
        VeilConfig connection = config.connection();
        PdpClient client = PdpClient.connect(connection);
        ViewCache<TableAccessKey, TableAccess> cache = new ViewCache<>(
                connection.cacheMaxSize(),
                Duration.ofMillis(connection.cacheTtl().toMillis()),
                TableAccessKey::affects);
        // The access control runs on the coordinator only, which is where answers are cached.
        ChangeWatcher watcher = new ChangeWatcher(client.streamingStub(), "access-control", cache::invalidate, initialBackoff, maxBackoff).start();
        QueryAnswers queries = new QueryAnswers();
        TableGovernor governor = new TableGovernor(
                client,
                cache,
                queries,
                new GovernedCatalogs(config.governedCatalogs(), veilCatalogs),
                config.unregisteredTables(),
                connection.runAsUser(),
                projects);
        return new VeilSystemAccessControl(governor, queries, () -> {
            watcher.close();
            client.close();
        });
    }
}
