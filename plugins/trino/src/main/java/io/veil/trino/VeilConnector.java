package io.veil.trino;

import io.trino.spi.connector.Connector;
import io.trino.spi.connector.ConnectorMetadata;
import io.trino.spi.connector.ConnectorSession;
import io.trino.spi.connector.ConnectorTransactionHandle;
import io.trino.spi.connector.ConnectorViewDefinition;
import io.trino.spi.function.FunctionProvider;
import io.trino.spi.session.PropertyMetadata;
import io.trino.spi.transaction.IsolationLevel;
import io.trino.spi.type.TypeManager;

import java.time.Duration;
import java.util.List;
import java.util.Optional;

import static java.util.Objects.requireNonNull;

/**
 * One Veil catalog: a PDP client, the view cache, the change stream that keeps the cache honest,
 * the keyed mask functions its views call, and the counts of the values {@code reveal} opens.
 */
public final class VeilConnector
        implements Connector
{
    private final PdpClient client;
    private final Optional<ChangeWatcher> watcher;
    private final VeilMetadata metadata;
    private final VeilFunctionProvider functions;
    private final RevealReporter reveals;

    private VeilConnector(PdpClient client, Optional<ChangeWatcher> watcher, VeilMetadata metadata, VeilFunctionProvider functions, RevealReporter reveals)
    {
        this.client = requireNonNull(client, "client is null");
        this.watcher = requireNonNull(watcher, "watcher is null");
        this.metadata = requireNonNull(metadata, "metadata is null");
        this.functions = requireNonNull(functions, "functions is null");
        this.reveals = requireNonNull(reveals, "reveals is null");
    }

    /**
     * @param coordinator whether this node plans queries; only coordinators ask for views, so only
     * they follow the change stream
     * @param node this node's id, which the counts of revealed values name
     * @param projects where each query's project is noted for the query audit
     */
    public static VeilConnector start(String catalogName, VeilConfig config, TypeManager typeManager, boolean coordinator, String node, QueryProjects projects)
    {
        PdpClient client = PdpClient.connect(config);
        ViewCache<ViewKey, ConnectorViewDefinition> views = ViewCache.ofViews(config.cacheMaxSize(), Duration.ofMillis(config.cacheTtl().toMillis()));
        Optional<ChangeWatcher> watcher = Optional.empty();
        if (coordinator) {
            watcher = Optional.of(new ChangeWatcher(client.streamingStub(), catalogName, views::invalidate, Duration.ofMillis(200), Duration.ofSeconds(30)).start());
        }
        // Workers need the functions too: they evaluate the views' masks, and reveal asks and counts
        // on the node that runs it.
        RevealReporter reveals = RevealReporter.start(client, node);
        VeilFunctionProvider functions = new VeilFunctionProvider(catalogName, config.maskKeys(), new RevealGrants(client), reveals);
        return new VeilConnector(client, watcher, new VeilMetadata(client, views, config.runAsUser(), typeManager, projects), functions, reveals);
    }

    @Override
    public ConnectorTransactionHandle beginTransaction(IsolationLevel isolationLevel, boolean readOnly, boolean autoCommit)
    {
        return VeilTransactionHandle.INSTANCE;
    }

    @Override
    public ConnectorMetadata getMetadata(ConnectorSession session, ConnectorTransactionHandle transactionHandle)
    {
        return metadata;
    }

    @Override
    public Optional<FunctionProvider> getFunctionProvider()
    {
        return Optional.of(functions);
    }

    @Override
    public List<PropertyMetadata<?>> getSessionProperties()
    {
        return VeilSessionProperties.all();
    }

    @Override
    public void shutdown()
    {
        watcher.ifPresent(ChangeWatcher::close);
        // Hands over the last counts before the channel closes.
        reveals.close();
        client.close();
    }
}
