package io.veil.trino;

import io.trino.spi.QueryId;
import io.trino.spi.StandardErrorCode;
import io.trino.spi.TrinoException;
import io.trino.spi.connector.CatalogSchemaTableName;
import io.trino.spi.connector.ColumnSchema;
import io.trino.spi.security.AccessDeniedException;
import io.trino.spi.security.Identity;
import io.trino.spi.security.SystemSecurityContext;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.function.Executable;

import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static io.trino.spi.type.VarcharType.VARCHAR;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * What every test of the system access control shares: a scripted PDP over real gRPC, the access
 * control started against it with the given properties, and the assertions of its answers.
 */
abstract class AccessControlFixture
{
    protected static final CatalogSchemaTableName CUSTOMER = new CatalogSchemaTableName("tpch", "tiny", "customer");
    /** Every function a veil catalog declares but reveal: all hold mask keys, so all are the run-as user's. */
    protected static final List<String> KEYED_FUNCTIONS = VeilFunctions.list("system").stream()
            .map(io.trino.spi.function.FunctionMetadata::getCanonicalName)
            .filter(name -> !name.equals("reveal"))
            .toList();
    protected static final CatalogSchemaTableName ORDERS = new CatalogSchemaTableName("tpch", "tiny", "orders");
    protected static final CatalogSchemaTableName NATION = new CatalogSchemaTableName("tpch", "tiny", "nation");
    protected static final List<ColumnSchema> CUSTOMER_COLUMNS = List.of(
            column("custkey", false),
            column("name", false),
            column("address", false),
            column("phone", false),
            column("nationkey", false));

    protected final AtomicInteger queries = new AtomicInteger();
    protected final QueryProjects projects = new QueryProjects();
    protected FakePdp pdp;
    protected VeilSystemAccessControl control;

    protected VeilSystemAccessControl start(String... properties)
            throws Exception
    {
        pdp = new FakePdp();
        Map<String, String> config = new HashMap<>(Map.of(
                "veil.pdp.address", pdp.address(),
                "veil.run-as-user", "veil_admin",
                "veil.pdp.timeout", "500ms"));
        for (int i = 0; i < properties.length; i += 2) {
            config.put(properties[i], properties[i + 1]);
        }
        VeilCatalogs veilCatalogs = new VeilCatalogs();
        veilCatalogs.add("veil");
        control = VeilAccessControlFactory.create(VeilAccessConfig.fromProperties(config), veilCatalogs, projects, Duration.ofMillis(10), Duration.ofMillis(50));
        return control;
    }

    @AfterEach
    void stop()
            throws Exception
    {
        if (control != null) {
            control.shutdown();
        }
        if (pdp != null) {
            pdp.close();
        }
    }

    // --- helpers


    protected SystemSecurityContext context(String user)
    {
        return context(Identity.ofUser(user));
    }

    protected SystemSecurityContext context(Identity identity)
    {
        return new SystemSecurityContext(identity, QueryId.valueOf("q" + queries.incrementAndGet()), Instant.now());
    }

    protected static ColumnSchema column(String name, boolean hidden)
    {
        return ColumnSchema.builder().setName(name).setType(VARCHAR).setHidden(hidden).build();
    }

    protected static void assertAbsent(CatalogSchemaTableName table, Executable call)
    {
        TrinoException error = assertThrows(TrinoException.class, call);
        assertEquals(StandardErrorCode.TABLE_NOT_FOUND.toErrorCode(), error.getErrorCode());
        assertEquals("Table '%s' does not exist".formatted(table), error.getMessage());
        assertFalse(error instanceof AccessDeniedException);
    }

    protected static void assertDenied(String message, Executable call)
    {
        AccessDeniedException error = assertThrows(AccessDeniedException.class, call);
        assertEquals(message, error.getMessage());
    }

    /** Repeats the call, each time as a new query, until the PDP has had {@code requests} table requests. */
    protected void awaitReasked(Runnable call, int requests)
            throws InterruptedException
    {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (pdp.tableAccessRequests.size() < requests && System.nanoTime() < deadline) {
            call.run();
            Thread.sleep(5);
        }
        assertEquals(requests, pdp.tableAccessRequests.size());
    }
}
