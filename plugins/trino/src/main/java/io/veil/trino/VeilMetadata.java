package io.veil.trino;

import io.trino.spi.connector.ConnectorMetadata;
import io.trino.spi.connector.ConnectorSession;
import io.trino.spi.connector.ConnectorTableHandle;
import io.trino.spi.connector.ConnectorTableVersion;
import io.trino.spi.connector.ConnectorViewDefinition;
import io.trino.spi.connector.RelationType;
import io.trino.spi.connector.SchemaTableName;
import io.trino.spi.function.BoundSignature;
import io.trino.spi.function.FunctionDependencyDeclaration;
import io.trino.spi.function.FunctionId;
import io.trino.spi.function.FunctionMetadata;
import io.trino.spi.function.SchemaFunctionName;
import io.trino.spi.type.TypeId;
import io.trino.spi.type.TypeManager;

import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;

import static java.util.Objects.requireNonNull;
import static java.util.function.Function.identity;
import static java.util.stream.Collectors.toMap;

/**
 * The governed catalog as Trino sees it: schemas and views only, each answered by the PDP for the
 * session's identity. It has no tables of its own, so it cannot read or write data. It also declares
 * the keyed mask functions those views call ({@link VeilFunctions}), which need no PDP.
 */
public final class VeilMetadata
        implements ConnectorMetadata
{
    private final PdpClient client;
    private final ViewCache<ViewKey, ConnectorViewDefinition> views;
    private final String runAsUser;
    private final Function<String, TypeId> typeIds;
    private final QueryProjects projects;

    public VeilMetadata(PdpClient client, ViewCache<ViewKey, ConnectorViewDefinition> views, String runAsUser, TypeManager typeManager, QueryProjects projects)
    {
        this(client, views, runAsUser, (Function<String, TypeId>) type -> typeManager.fromSqlType(type).getTypeId(), projects);
    }

    VeilMetadata(PdpClient client, ViewCache<ViewKey, ConnectorViewDefinition> views, String runAsUser, Function<String, TypeId> typeIds, QueryProjects projects)
    {
        this.client = requireNonNull(client, "client is null");
        this.views = requireNonNull(views, "views is null");
        this.runAsUser = requireNonNull(runAsUser, "runAsUser is null");
        this.typeIds = requireNonNull(typeIds, "typeIds is null");
        this.projects = requireNonNull(projects, "projects is null");
    }

    @Override
    public List<String> listSchemaNames(ConnectorSession session)
    {
        return client.listSchemas(pdpIdentity(session), session.getQueryId());
    }

    @Override
    public ConnectorTableHandle getTableHandle(ConnectorSession session, SchemaTableName tableName, Optional<ConnectorTableVersion> startVersion, Optional<ConnectorTableVersion> endVersion)
    {
        // Every governed relation is a view; there is never a table.
        return null;
    }

    @Override
    public List<SchemaTableName> listTables(ConnectorSession session, Optional<String> schemaName)
    {
        return client.listTables(pdpIdentity(session), session.getQueryId(), schemaName);
    }

    @Override
    public List<SchemaTableName> listViews(ConnectorSession session, Optional<String> schemaName)
    {
        return client.listTables(pdpIdentity(session), session.getQueryId(), schemaName);
    }

    @Override
    public Map<SchemaTableName, RelationType> getRelationTypes(ConnectorSession session, Optional<String> schemaName)
    {
        return client.listTables(pdpIdentity(session), session.getQueryId(), schemaName).stream()
                .collect(toMap(identity(), _ -> RelationType.VIEW, (first, _) -> first));
    }

    @Override
    public Optional<ConnectorViewDefinition> getView(ConnectorSession session, SchemaTableName viewName)
    {
        return view(pdpIdentity(session), session.getQueryId(), viewName);
    }

    @Override
    public Map<SchemaTableName, ConnectorViewDefinition> getViews(ConnectorSession session, Optional<String> schemaName)
    {
        // One PDP call for the whole listing (information_schema.views), which also fills the
        // cache the single lookups use.
        PdpIdentity identity = pdpIdentity(session);
        long startedAt = views.generation();
        Map<SchemaTableName, ConnectorViewDefinition> result = new LinkedHashMap<>();
        client.getViewDefinitions(identity, session.getQueryId(), schemaName).forEach((name, response) -> {
            ConnectorViewDefinition view = ViewDefinitions.toView(name.getSchemaName(), name.getTableName(), response, runAsUser, typeIds);
            views.offer(ViewKey.of(identity, name.getSchemaName(), name.getTableName()), Optional.of(view), startedAt);
            result.put(name, view);
        });
        return result;
    }

    /** The session's identity, whose project the query audit will want when the query completes. */
    private PdpIdentity pdpIdentity(ConnectorSession session)
    {
        PdpIdentity identity = PdpIdentity.of(session);
        projects.note(session.getQueryId(), identity.project());
        return identity;
    }

    /** The cache is keyed by identity and name alone: the query id only goes along when the PDP is asked. */
    private Optional<ConnectorViewDefinition> view(PdpIdentity identity, String queryId, SchemaTableName name)
    {
        return views.get(
                ViewKey.of(identity, name.getSchemaName(), name.getTableName()),
                () -> client.getViewDefinition(identity, queryId, name.getSchemaName(), name.getTableName())
                        .map(response -> ViewDefinitions.toView(name.getSchemaName(), name.getTableName(), response, runAsUser, typeIds)));
    }

    @Override
    public Collection<FunctionMetadata> listFunctions(ConnectorSession session, String schemaName)
    {
        return VeilFunctions.list(schemaName);
    }

    @Override
    public Collection<FunctionMetadata> getFunctions(ConnectorSession session, SchemaFunctionName name)
    {
        return VeilFunctions.get(name);
    }

    @Override
    public FunctionMetadata getFunctionMetadata(ConnectorSession session, FunctionId functionId)
    {
        return VeilFunctions.metadata(functionId);
    }

    @Override
    public FunctionDependencyDeclaration getFunctionDependencies(ConnectorSession session, FunctionId functionId, BoundSignature boundSignature)
    {
        // Required: the SPI's default throws, and Trino asks for every function it resolves.
        return VeilFunctions.dependencies(functionId);
    }
}
