package io.veil.trino;

import io.trino.spi.StandardErrorCode;
import io.trino.spi.TrinoException;
import io.trino.spi.connector.ConnectorSession;
import io.trino.spi.connector.ConnectorViewDefinition;
import io.trino.spi.connector.RelationType;
import io.trino.spi.connector.SchemaTableName;
import io.trino.spi.function.BoundSignature;
import io.trino.spi.function.CatalogSchemaFunctionName;
import io.trino.spi.function.FunctionDependencyDeclaration;
import io.trino.spi.function.FunctionId;
import io.trino.spi.function.FunctionMetadata;
import io.trino.spi.function.SchemaFunctionName;
import io.trino.spi.security.ConnectorIdentity;
import io.trino.spi.type.TimeZoneKey;
import io.trino.spi.type.TypeId;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;

import static io.trino.spi.type.VarcharType.VARCHAR;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The connector's metadata against a scripted PDP over real gRPC: what each answer becomes in Trino,
 * and that every failure fails closed.
 */
class VeilMetadataTest
{
    private static final SchemaTableName CUSTOMERS = new SchemaTableName("sales", "customers");
    private static final Function<String, TypeId> TYPES = type -> {
        if (type.equals("nosuchtype")) {
            throw new IllegalArgumentException("Unknown type");
        }
        return TypeId.of(type);
    };

    private final QueryProjects projects = new QueryProjects();
    private FakePdp pdp;
    private PdpClient client;
    private VeilMetadata metadata;

    @BeforeEach
    void start()
            throws Exception
    {
        pdp = new FakePdp();
        client = PdpClient.connect(config(pdp.address(), Optional.of("t0ken"), "500ms"));
        metadata = new VeilMetadata(client, ViewCache.ofViews(100, Duration.ofMinutes(1)), "veil_admin", TYPES, projects);
    }

    @AfterEach
    void stop()
            throws Exception
    {
        client.close();
        pdp.close();
    }

    private static VeilConfig config(String address, Optional<String> token, String timeout)
    {
        Map<String, String> properties = new java.util.HashMap<>(Map.of(
                "veil.pdp.address", address,
                "veil.run-as-user", "veil_admin",
                "veil.pdp.timeout", timeout));
        token.ifPresent(value -> properties.put("veil.pdp.token", value));
        return VeilConfig.fromProperties(properties);
    }

    @Test
    void aVisibleTableIsADefinerViewOwnedByTheRunAsUser()
    {
        ConnectorViewDefinition view = metadata.getView(session("alice", Set.of("b", "a"), ""), CUSTOMERS).orElseThrow();
        assertEquals("SELECT \"custkey\", \"name\" FROM \"tpch\".\"tiny\".\"customer\"", view.getOriginalSql());
        assertFalse(view.isRunAsInvoker());
        assertEquals(Optional.of("veil_admin"), view.getOwner());
        assertEquals(Optional.empty(), view.getCatalog());
        assertEquals(Optional.empty(), view.getSchema());
        assertEquals(List.of("custkey", "name"), view.getColumns().stream().map(ConnectorViewDefinition.ViewColumn::getName).toList());
        assertEquals(List.of(TypeId.of("bigint"), TypeId.of("varchar(25)")), view.getColumns().stream().map(ConnectorViewDefinition.ViewColumn::getType).toList());
        assertEquals(Optional.of("hashed"), view.getColumns().get(1).getComment());

        var request = pdp.viewRequests.getFirst();
        assertEquals("alice", request.getIdentity().getUser());
        assertEquals(List.of("a", "b"), request.getIdentity().getGroupsList());
        assertEquals("", request.getIdentity().getProject());
        assertEquals(List.of("Bearer t0ken"), pdp.authorizations);
    }

    @Test
    void viewsAreCachedPerIdentity()
    {
        metadata.getView(session("alice", Set.of(), ""), CUSTOMERS);
        metadata.getView(session("alice", Set.of(), ""), CUSTOMERS);
        assertEquals(1, pdp.viewRequests.size());
        metadata.getView(session("alice", Set.of(), "other"), CUSTOMERS);
        assertEquals(2, pdp.viewRequests.size());
        assertEquals("other", pdp.viewRequests.get(1).getIdentity().getProject());
    }

    @Test
    void theQueryIdReachesThePdpButIsNoPartOfTheCacheKey()
    {
        metadata.getView(session("q1", "alice", Set.of(), "", Map.of()), CUSTOMERS);
        // Another query of the same user: answered from the cache.
        metadata.getView(session("q2", "alice", Set.of(), "", Map.of()), CUSTOMERS);
        assertEquals(1, pdp.viewRequests.size());
        assertEquals("q1", pdp.viewRequests.getFirst().getIdentity().getQueryId());
        metadata.getViews(session("q3", "alice", Set.of(), "", Map.of()), Optional.empty());
        assertEquals("q3", pdp.viewListRequests.getFirst().getIdentity().getQueryId());
    }

    @Test
    void theProjectIsNotedForTheQueryAuditOnceItIsOn()
    {
        metadata.getView(session("q1", "alice", Set.of(), "fraud-2026", Map.of()), CUSTOMERS);
        assertEquals(0, projects.size());
        projects.enable();
        metadata.getView(session("q2", "alice", Set.of(), "fraud-2026", Map.of()), CUSTOMERS);
        metadata.listSchemaNames(session("q3", "alice", Set.of(), "", Map.of("veil.project", "p3")));
        metadata.listSchemaNames(session("q4", "alice", Set.of(), "", Map.of()));
        assertEquals("fraud-2026", projects.take("q2"));
        assertEquals("", projects.take("q2"));
        assertEquals("p3", projects.take("q3"));
        assertEquals("", projects.take("q4"));
        assertEquals(0, projects.size());
    }

    @Test
    void aTableTheUserMayNotSeeDoesNotExist()
    {
        assertEquals(Optional.empty(), metadata.getView(session("bob", Set.of(), ""), CUSTOMERS));
        assertEquals(List.of(), metadata.listSchemaNames(session("bob", Set.of(), "")));
        assertEquals(List.of(), metadata.listTables(session("bob", Set.of(), ""), Optional.empty()));
        assertNull(metadata.getTableHandle(session("alice", Set.of(), ""), CUSTOMERS, Optional.empty(), Optional.empty()));
    }

    @Test
    void listingShowsOnlyViews()
    {
        ConnectorSession alice = session("alice", Set.of(), "");
        assertEquals(List.of("sales"), metadata.listSchemaNames(alice));
        assertEquals(List.of(CUSTOMERS), metadata.listTables(alice, Optional.of("sales")));
        assertEquals(List.of(CUSTOMERS), metadata.listViews(alice, Optional.empty()));
        assertEquals(Map.of(CUSTOMERS, RelationType.VIEW), metadata.getRelationTypes(alice, Optional.empty()));
        assertEquals(Set.of(CUSTOMERS), metadata.getViews(alice, Optional.of("sales")).keySet());
        // One call for the whole listing, which also answers the next single lookup.
        assertEquals(1, pdp.viewListRequests.size());
        assertEquals(0, pdp.viewRequests.size());
        assertEquals("SELECT \"custkey\", \"name\" FROM \"tpch\".\"tiny\".\"customer\"", metadata.getView(alice, CUSTOMERS).orElseThrow().getOriginalSql());
        assertEquals(0, pdp.viewRequests.size());
    }

    @Test
    void aRefusedProjectIsPermissionDenied()
    {
        TrinoException error = assertThrows(TrinoException.class, () -> metadata.getView(session("alice", Set.of(), "forbidden"), CUSTOMERS));
        assertEquals(StandardErrorCode.PERMISSION_DENIED.toErrorCode(), error.getErrorCode());
        assertEquals("`alice` is not a member of project `forbidden`", error.getMessage());
    }

    @Test
    void aPdpThatDoesNotAnswerInTimeFailsClosed()
    {
        TrinoException error = assertThrows(TrinoException.class, () -> metadata.getView(session("slow", Set.of(), ""), CUSTOMERS));
        assertEquals(VeilErrorCode.VEIL_PDP_UNAVAILABLE.toErrorCode(), error.getErrorCode());
        assertTrue(error.getMessage().startsWith("Veil: the policy decision point at " + pdp.address() + " is unreachable"), error.getMessage());
        assertTrue(error.getMessage().contains("DEADLINE_EXCEEDED"), error.getMessage());
    }

    @Test
    void aStoppedPdpFailsEveryCallClosed()
            throws Exception
    {
        pdp.close();
        ConnectorSession alice = session("alice", Set.of(), "");
        for (Runnable call : List.<Runnable>of(
                () -> metadata.listSchemaNames(alice),
                () -> metadata.listTables(alice, Optional.empty()),
                () -> metadata.getRelationTypes(alice, Optional.empty()),
                () -> metadata.getViews(alice, Optional.empty()),
                () -> metadata.getView(alice, CUSTOMERS))) {
            TrinoException error = assertThrows(TrinoException.class, call::run);
            assertEquals(VeilErrorCode.VEIL_PDP_UNAVAILABLE.toErrorCode(), error.getErrorCode());
            assertTrue(error.getMessage().startsWith("Veil: the policy decision point at " + pdp.address() + " is unreachable"), error.getMessage());
        }
    }

    @Test
    void aRestartedPdpIsUsedAtOnce()
            throws Exception
    {
        ConnectorSession alice = session("alice", Set.of(), "");
        int port = pdp.port();
        pdp.close();
        for (int attempt = 0; attempt < 3; attempt++) {
            assertThrows(TrinoException.class, () -> metadata.listSchemaNames(alice));
        }
        pdp = new FakePdp(port);
        // No waiting out the channel's reconnect backoff: the next call connects again.
        assertEquals(List.of("sales"), metadata.listSchemaNames(alice));
    }

    @Test
    void anUnknownColumnTypeIsRejectedNotGuessed()
    {
        var response = veil.v1.Decision.GetViewDefinitionResponse.newBuilder()
                .setSql("SELECT 1 AS \"x\"")
                .addColumns(veil.v1.Decision.ViewColumn.newBuilder().setName("x").setType("nosuchtype"))
                .setOwner("other_admin")
                .build();
        TrinoException error = assertThrows(TrinoException.class, () -> ViewDefinitions.toView("s", "t", response, "veil_admin", TYPES));
        assertEquals(VeilErrorCode.VEIL_INVALID_VIEW.toErrorCode(), error.getErrorCode());
        assertTrue(error.getMessage().contains("column `x` has unknown type `nosuchtype`"), error.getMessage());

        var good = response.toBuilder().setColumns(0, veil.v1.Decision.ViewColumn.newBuilder().setName("x").setType("integer")).build();
        assertEquals(Optional.of("other_admin"), ViewDefinitions.toView("s", "t", good, "veil_admin", TYPES).getOwner());
    }

    @Test
    void theKeyedFunctionsAreInSchemaSystemOnly()
    {
        ConnectorSession bob = session("bob", Set.of(), "");
        List<FunctionMetadata> listed = List.copyOf(metadata.listFunctions(bob, "system"));
        assertEquals(List.of("hash", "fpe", "fpe_decrypt", "encrypt", "decrypt", "uniform", "reveal"), listed.stream().map(FunctionMetadata::getCanonicalName).toList());
        assertEquals(List.of("hash(varchar,varchar):varchar", "fpe(varchar,varchar):varchar", "fpe_decrypt(varchar,varchar):varchar",
                        "encrypt(varchar,varchar,varchar):varchar", "decrypt(varchar,varchar):varchar", "uniform(varchar,varchar):double",
                        "reveal(varchar,varchar,varchar):varchar"),
                listed.stream().map(function -> function.getFunctionId().toString()).toList());
        for (FunctionMetadata function : listed) {
            assertEquals(List.of(function), List.copyOf(metadata.getFunctions(bob, new SchemaFunctionName("system", function.getCanonicalName()))));
            assertEquals(function, metadata.getFunctionMetadata(bob, function.getFunctionId()));
            assertEquals(List.of(), List.copyOf(metadata.getFunctions(bob, new SchemaFunctionName("sales", function.getCanonicalName()))));
        }
        FunctionMetadata hash = listed.getFirst();
        assertEquals("hash", hash.getCanonicalName());
        assertEquals("hash(varchar,varchar):varchar", hash.getFunctionId().toString());
        assertEquals(List.of(hash), List.copyOf(metadata.getFunctions(bob, new SchemaFunctionName("system", "hash"))));
        assertEquals(List.of(hash), List.copyOf(metadata.getFunctions(bob, new SchemaFunctionName("SYSTEM", "Hash"))));
        assertEquals(hash, metadata.getFunctionMetadata(bob, hash.getFunctionId()));
        BoundSignature bound = new BoundSignature(new CatalogSchemaFunctionName("veil", "system", "hash"), VARCHAR, List.of(VARCHAR, VARCHAR));
        assertEquals(FunctionDependencyDeclaration.NO_DEPENDENCIES, metadata.getFunctionDependencies(bob, hash.getFunctionId(), bound));

        assertEquals(List.of(), List.copyOf(metadata.listFunctions(bob, "sales")));
        assertEquals(List.of(), List.copyOf(metadata.listFunctions(bob, "information_schema")));
        assertEquals(List.of(), List.copyOf(metadata.getFunctions(bob, new SchemaFunctionName("sales", "hash"))));
        assertEquals(List.of(), List.copyOf(metadata.getFunctions(bob, new SchemaFunctionName("system", "sha256"))));
        assertThrows(IllegalArgumentException.class, () -> metadata.getFunctionMetadata(bob, new FunctionId("sha256(varchar):varchar")));
        assertThrows(IllegalArgumentException.class, () -> metadata.getFunctionDependencies(bob, new FunctionId("sha256(varchar):varchar"), bound));
        // Functions need no PDP: it was never called.
        assertEquals(List.of(), pdp.authorizations);
    }

    @Test
    void theProjectMayComeFromTheExtraCredentialTheAccessControlReadsToo()
    {
        metadata.getView(session("alice", Set.of(), "", Map.of("veil.project", "fraud-2026")), CUSTOMERS);
        assertEquals("fraud-2026", pdp.viewRequests.getFirst().getIdentity().getProject());
        metadata.getView(session("alice", Set.of(), "p", Map.of("veil.project", "p")), CUSTOMERS);
        assertEquals("p", pdp.viewRequests.get(1).getIdentity().getProject());
        TrinoException error = assertThrows(TrinoException.class, () -> metadata.getView(session("alice", Set.of(), "p", Map.of("veil.project", "q")), CUSTOMERS));
        assertEquals(StandardErrorCode.INVALID_SESSION_PROPERTY.toErrorCode(), error.getErrorCode());
        assertEquals("Veil: the session property `project` (`p`) and the extra credential `veil.project` (`q`) name different projects", error.getMessage());
        assertEquals(2, pdp.viewRequests.size());
    }

    private static ConnectorSession session(String user, Set<String> groups, String project)
    {
        return session(user, groups, project, Map.of());
    }

    private static ConnectorSession session(String user, Set<String> groups, String project, Map<String, String> extraCredentials)
    {
        return session("test", user, groups, project, extraCredentials);
    }

    private static ConnectorSession session(String queryId, String user, Set<String> groups, String project, Map<String, String> extraCredentials)
    {
        ConnectorIdentity identity = ConnectorIdentity.forUser(user).withGroups(groups).withExtraCredentials(extraCredentials).build();
        return new ConnectorSession()
        {
            @Override
            public String getQueryId()
            {
                return queryId;
            }

            @Override
            public Optional<String> getSource()
            {
                return Optional.empty();
            }

            @Override
            public ConnectorIdentity getIdentity()
            {
                return identity;
            }

            @Override
            public TimeZoneKey getTimeZoneKey()
            {
                return TimeZoneKey.UTC_KEY;
            }

            @Override
            public Locale getLocale()
            {
                return Locale.ENGLISH;
            }

            @Override
            public Optional<String> getTraceToken()
            {
                return Optional.empty();
            }

            @Override
            public Instant getStart()
            {
                return Instant.now();
            }

            @Override
            public <T> T getProperty(String name, Class<T> type)
            {
                if (!name.equals(VeilSessionProperties.PROJECT)) {
                    throw new IllegalArgumentException(name);
                }
                return type.cast(project);
            }
        };
    }
}
