package io.veil.trino;

import io.trino.spi.QueryId;
import io.trino.spi.StandardErrorCode;
import io.trino.spi.TrinoException;
import io.trino.spi.connector.CatalogSchemaName;
import io.trino.spi.connector.CatalogSchemaRoutineName;
import io.trino.spi.connector.CatalogSchemaTableName;
import io.trino.spi.connector.ColumnSchema;
import io.trino.spi.connector.EntityKindAndName;
import io.trino.spi.connector.SchemaTableName;
import io.trino.spi.security.AccessDeniedException;
import io.trino.spi.security.Identity;
import io.trino.spi.security.SystemSecurityContext;
import io.trino.spi.security.TrinoPrincipal;
import io.trino.spi.security.ViewExpression;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import veil.v1.Decision.ChangeEvent;

import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static io.trino.spi.security.PrincipalType.USER;
import static io.trino.spi.type.BigintType.BIGINT;
import static io.trino.spi.type.VarcharType.VARCHAR;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The system access control against a scripted PDP over real gRPC: what each answer becomes in Trino,
 * how few calls it takes, that the run-as user and ungoverned catalogs are left alone, that writes to
 * governed tables are refused, and that every failure fails closed.
 */
class VeilSystemAccessControlTest
{
    private static final CatalogSchemaTableName CUSTOMER = new CatalogSchemaTableName("tpch", "tiny", "customer");
    /** Every function a veil catalog declares but reveal: all hold mask keys, so all are the run-as user's. */
    private static final List<String> KEYED_FUNCTIONS = VeilFunctions.list("system").stream()
            .map(io.trino.spi.function.FunctionMetadata::getCanonicalName)
            .filter(name -> !name.equals("reveal"))
            .toList();
    private static final CatalogSchemaTableName ORDERS = new CatalogSchemaTableName("tpch", "tiny", "orders");
    private static final CatalogSchemaTableName NATION = new CatalogSchemaTableName("tpch", "tiny", "nation");
    private static final List<ColumnSchema> CUSTOMER_COLUMNS = List.of(
            column("custkey", false),
            column("name", false),
            column("address", false),
            column("phone", false),
            column("nationkey", false));

    private final AtomicInteger queries = new AtomicInteger();
    private final QueryProjects projects = new QueryProjects();
    private FakePdp pdp;
    private VeilSystemAccessControl control;

    private VeilSystemAccessControl start(String... properties)
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

    // --- listings

    @Test
    void aListingIsFilteredWithOnePdpCall()
            throws Exception
    {
        start();
        Set<SchemaTableName> listing = Set.of(
                CUSTOMER.getSchemaTableName(),
                ORDERS.getSchemaTableName(),
                NATION.getSchemaTableName(),
                new SchemaTableName("tiny", "region"),
                new SchemaTableName("information_schema", "tables"));
        assertEquals(
                Set.of(CUSTOMER.getSchemaTableName(), ORDERS.getSchemaTableName(), new SchemaTableName("information_schema", "tables")),
                control.filterTables(context("alice"), "tpch", listing));
        assertEquals(1, pdp.filterRequests.size());
        var request = pdp.filterRequests.getFirst();
        assertEquals("tpch", request.getCatalog());
        assertEquals("alice", request.getIdentity().getUser());
        // information_schema is never asked about.
        assertEquals(4, request.getTablesCount());

        assertEquals(Set.of(new SchemaTableName("information_schema", "tables")), control.filterTables(context("bob"), "tpch", listing));
        assertEquals(2, pdp.filterRequests.size());
        assertEquals(0, pdp.tableAccessRequests.size());
    }

    @Test
    void aSchemaListingKeepsSchemasWithAVisibleTableWithOnePdpCall()
            throws Exception
    {
        start();
        Set<String> schemas = Set.of("tiny", "sf1", "information_schema");
        assertEquals(Set.of("tiny", "information_schema"), control.filterSchemas(context("alice"), "tpch", schemas));
        assertEquals(1, pdp.schemaRequests.size());
        // information_schema is never asked about.
        assertEquals(Set.of("tiny", "sf1"), Set.copyOf(pdp.schemaRequests.getFirst().getSchemasList()));
        assertEquals(Set.of("information_schema"), control.filterSchemas(context("bob"), "tpch", schemas));
        assertThrows(TrinoException.class, () -> control.filterSchemas(context(Identity.forUser("alice").withExtraCredentials(Map.of("veil.project", "forbidden")).build()), "tpch", schemas));
        // Neither the run-as user nor an ungoverned catalog is filtered, nor asked about.
        assertEquals(schemas, control.filterSchemas(context("veil_admin"), "tpch", schemas));
        assertEquals(schemas, control.filterSchemas(context("alice"), "system", schemas));
        assertEquals(3, pdp.schemaRequests.size());
    }

    @Test
    void everySchemaIsListedWhenUnregisteredTablesAreAllowed()
            throws Exception
    {
        start("veil.unregistered-tables", "allow");
        Set<String> schemas = Set.of("tiny", "sf1");
        assertEquals(schemas, control.filterSchemas(context("bob"), "tpch", schemas));
        assertEquals(0, pdp.schemaRequests.size());
    }

    @Test
    void unregisteredTablesAreListedWhenAllowed()
            throws Exception
    {
        start("veil.unregistered-tables", "allow");
        Set<SchemaTableName> listing = Set.of(CUSTOMER.getSchemaTableName(), NATION.getSchemaTableName());
        assertEquals(listing, control.filterTables(context("alice"), "tpch", listing));
        assertEquals(Set.of(NATION.getSchemaTableName()), control.filterTables(context("bob"), "tpch", listing));
    }

    @Test
    void aListingsColumnsAreTheDataSourcesWithoutAskingAgain()
            throws Exception
    {
        start("veil.unregistered-tables", "allow");
        SystemSecurityContext alice = context("alice");
        Map<SchemaTableName, Set<String>> columns = new LinkedHashMap<>();
        columns.put(CUSTOMER.getSchemaTableName(), Set.of("custkey", "name", "address", "phone", "nationkey"));
        columns.put(NATION.getSchemaTableName(), Set.of("nationkey", "name"));
        columns.put(new SchemaTableName("tiny", "secret"), Set.of("x"));
        pdp.backing.put("tpch.tiny.secret", "hr.secrets");
        // Trino filters the tables of a column listing first, then their columns, in the same query.
        control.filterTables(alice, "tpch", columns.keySet());
        Map<SchemaTableName, Set<String>> filtered = control.filterColumns(alice, "tpch", columns);
        assertEquals(Map.of(
                CUSTOMER.getSchemaTableName(), Set.of("custkey", "name", "phone", "nationkey"),
                NATION.getSchemaTableName(), Set.of("nationkey", "name")), filtered);
        assertEquals(1, pdp.filterRequests.size());
        // The visible governed table's columns take its one answer.
        assertEquals(1, pdp.tableAccessRequests.size());

        // The single-table form gives the same answer from the cache.
        assertEquals(Set.of("custkey", "phone"), control.filterColumns(context("alice"), CUSTOMER, Set.of("custkey", "address", "phone")));
        assertEquals(Set.of(), control.filterColumns(context("bob"), CUSTOMER, Set.of("custkey")));
        assertEquals(2, pdp.tableAccessRequests.size());
    }

    // --- filters and masks

    @Test
    void rowFiltersRunAsTheRunAsUserInTheTablesSchema()
            throws Exception
    {
        start();
        List<ViewExpression> filters = control.getRowFilters(context("alice"), CUSTOMER);
        assertEquals(List.of("\"nationkey\" IN (1, 2)", "\"custkey\" < 1000"), filters.stream().map(ViewExpression::getExpression).toList());
        for (ViewExpression filter : filters) {
            assertEquals(Optional.of("veil_admin"), filter.getSecurityIdentity());
            assertEquals(Optional.of("tpch"), filter.getCatalog());
            assertEquals(Optional.of("tiny"), filter.getSchema());
        }
        // The PDP may name the identity itself...
        ViewExpression orders = control.getRowFilters(context("alice"), ORDERS).getFirst();
        assertEquals(Optional.of("veil_admin"), orders.getSecurityIdentity());
        assertEquals("\"totalprice\" < 1000", orders.getExpression());

        // ...but no other: Trino would check that identity's own SELECT on the table, and govern it.
        pdp.answers.put("carol|tpch.tiny.orders", pdp.answers.get("alice|tpch.tiny.orders").toBuilder().setRunAs("pdp_owner").build());
        TrinoException error = assertThrows(TrinoException.class, () -> control.getRowFilters(context("carol"), ORDERS));
        assertEquals(VeilErrorCode.VEIL_INVALID_VIEW.toErrorCode(), error.getErrorCode());
        assertEquals("Veil: the policy decision point returned an unusable answer for `tpch.tiny.orders`: filters and masks run as `pdp_owner`, but the access control's run-as user is `veil_admin` (set `veil.run-as-user` to the PDP's view owner)", error.getMessage());
    }

    @Test
    void oneCallMasksEveryColumnAndAnswersTheWholeQuery()
            throws Exception
    {
        start();
        SystemSecurityContext alice = context("alice");
        Map<ColumnSchema, ViewExpression> masks = control.getColumnMasks(alice, CUSTOMER, CUSTOMER_COLUMNS);
        assertEquals(Set.of(CUSTOMER_COLUMNS.get(1), CUSTOMER_COLUMNS.get(3)), masks.keySet());
        ViewExpression hash = masks.get(CUSTOMER_COLUMNS.get(1));
        assertEquals("CAST(\"veil\".\"system\".\"hash\"('default', \"name\") AS varchar(25))", hash.getExpression());
        assertEquals(Optional.of("veil_admin"), hash.getSecurityIdentity());
        assertEquals(Optional.of("tpch"), hash.getCatalog());
        assertEquals(Optional.of("tiny"), hash.getSchema());
        assertEquals("'***'", masks.get(CUSTOMER_COLUMNS.get(3)).getExpression());

        // What Trino asks next about the same table, in the same query: no other call.
        control.checkCanSelectFromColumns(alice, CUSTOMER, Set.of("name"));
        control.getRowFilters(alice, CUSTOMER);
        control.checkCanSelectFromColumns(alice, CUSTOMER, Set.of("custkey", "name", "phone"));
        assertEquals(Optional.of("'***'"), control.getColumnMask(alice, CUSTOMER, "phone", VARCHAR).map(ViewExpression::getExpression));
        assertEquals(Optional.empty(), control.getColumnMask(alice, CUSTOMER, "custkey", BIGINT));
        assertEquals(1, pdp.tableAccessRequests.size());
        var request = pdp.tableAccessRequests.getFirst();
        assertEquals("tpch", request.getTable().getCatalog());
        assertEquals("tiny", request.getTable().getSchema());
        assertEquals("customer", request.getTable().getTable());

        // The next query too, from the cache.
        control.getColumnMasks(context("alice"), CUSTOMER, CUSTOMER_COLUMNS);
        assertEquals(1, pdp.tableAccessRequests.size());
    }

    @Test
    void answersAreCachedPerUserGroupsAndProject()
            throws Exception
    {
        start();
        control.getRowFilters(context("alice"), CUSTOMER);
        control.getRowFilters(context(Identity.forUser("alice").withGroups(Set.of("analysts")).build()), CUSTOMER);
        control.getRowFilters(context(Identity.forUser("alice").withExtraCredentials(Map.of("veil.project", "fraud-2026")).build()), CUSTOMER);
        control.getRowFilters(context(Identity.forUser("alice").withExtraCredentials(Map.of("veil.project", "fraud-2026")).build()), CUSTOMER);
        assertEquals(3, pdp.tableAccessRequests.size());
        assertEquals(List.of("analysts"), pdp.tableAccessRequests.get(1).getIdentity().getGroupsList());
        assertEquals("fraud-2026", pdp.tableAccessRequests.get(2).getIdentity().getProject());
        assertEquals("", pdp.tableAccessRequests.get(0).getIdentity().getProject());
    }

    @Test
    void theQueryIdReachesThePdpButIsNoPartOfTheCacheKey()
            throws Exception
    {
        start();
        SystemSecurityContext first = context("alice");
        SystemSecurityContext second = context("alice");
        control.getRowFilters(first, CUSTOMER);
        // Another query of the same user on the same table: answered from the shared cache.
        assertEquals(2, control.getRowFilters(second, CUSTOMER).size());
        assertEquals(1, pdp.tableAccessRequests.size());
        assertEquals(first.getQueryId().getId(), pdp.tableAccessRequests.getFirst().getIdentity().getQueryId());

        SystemSecurityContext listing = context("alice");
        control.filterTables(listing, "tpch", Set.of(NATION.getSchemaTableName()));
        assertEquals(listing.getQueryId().getId(), pdp.filterRequests.getFirst().getIdentity().getQueryId());
        SystemSecurityContext schemas = context("alice");
        control.filterSchemas(schemas, "tpch", Set.of("tiny"));
        assertEquals(schemas.getQueryId().getId(), pdp.schemaRequests.getFirst().getIdentity().getQueryId());
    }

    @Test
    void theProjectIsNotedForTheQueryAuditOnceItIsOn()
            throws Exception
    {
        start();
        SystemSecurityContext before = context(Identity.forUser("alice").withExtraCredentials(Map.of("veil.project", "fraud-2026")).build());
        control.getRowFilters(before, CUSTOMER);
        assertEquals(0, projects.size());
        projects.enable();
        SystemSecurityContext query = context(Identity.forUser("alice").withExtraCredentials(Map.of("veil.project", "fraud-2026")).build());
        // From the cache, and noted all the same.
        control.getRowFilters(query, CUSTOMER);
        assertEquals(1, pdp.tableAccessRequests.size());
        SystemSecurityContext listing = context(Identity.forUser("alice").withExtraCredentials(Map.of("veil.project", "p2")).build());
        control.filterTables(listing, "tpch", Set.of(NATION.getSchemaTableName()));
        SystemSecurityContext none = context("alice");
        control.getRowFilters(none, ORDERS);
        // Neither the run-as user nor an ungoverned catalog asks the PDP, nor notes anything.
        control.getRowFilters(context(Identity.forUser("veil_admin").withExtraCredentials(Map.of("veil.project", "admin")).build()), CUSTOMER);
        assertEquals(2, projects.size());
        assertEquals("fraud-2026", projects.take(query.getQueryId().getId()));
        assertEquals("p2", projects.take(listing.getQueryId().getId()));
        assertEquals("", projects.take(none.getQueryId().getId()));
    }

    @Test
    void aQueryKeepsItsAnswerWhileTheCacheMovesOn()
            throws Exception
    {
        start("veil.cache.max-size", "0");
        SystemSecurityContext query = context("alice");
        control.getColumnMasks(query, CUSTOMER, CUSTOMER_COLUMNS);
        pdp.answers.remove("alice|tpch.tiny.customer");
        // Same query: the answer it started with, not the new policy.
        assertEquals(2, control.getRowFilters(query, CUSTOMER).size());
        assertEquals(1, pdp.tableAccessRequests.size());
        // Next query: nothing cached (max-size 0), so the new policy.
        assertThrows(TrinoException.class, () -> control.getRowFilters(context("alice"), CUSTOMER));
        assertEquals(2, pdp.tableAccessRequests.size());

        // A completed query's answers are dropped.
        QueryAnswers answers = (QueryAnswers) control.getEventListeners().iterator().next();
        assertEquals(2, answers.size());
        answers.forget(query.getQueryId());
        assertEquals(1, answers.size());
    }

    // --- change events

    @Test
    void changeEventsDropExactlyTheAnswersTheyName()
            throws Exception
    {
        start();
        control.getRowFilters(context("alice"), CUSTOMER);
        control.getRowFilters(context("alice"), ORDERS);
        assertEquals(2, pdp.tableAccessRequests.size());

        pdp.watchScript.add(List.of(ChangeEvent.newBuilder().setPolicyVersion(8).addDataSources("sales.customers").build()));
        awaitReasked(() -> control.getRowFilters(context("alice"), CUSTOMER), 3);
        control.getRowFilters(context("alice"), ORDERS);
        assertEquals(3, pdp.tableAccessRequests.size());

        pdp.watchScript.add(List.of(ChangeEvent.newBuilder().setPolicyVersion(9).addUsers("alice").build()));
        awaitReasked(() -> control.getRowFilters(context("alice"), ORDERS), 4);
        control.getRowFilters(context("alice"), CUSTOMER);
        assertEquals(5, pdp.tableAccessRequests.size());
    }

    @Test
    void anAnswerWithoutADataSourceIsDroppedByAnyDataSourceChange()
    {
        TableAccessKey alice = new TableAccessKey("alice", List.of(), "", "tpch", "tiny", "nation");
        Optional<TableAccess> unregistered = Optional.of(TableAccess.unregistered(7));
        Optional<TableAccess> customers = Optional.of(TableAccess.invisible(Optional.of("sales.customers"), 7));
        ChangeSet ordersChanged = new ChangeSet(false, Set.of("sales.orders"), Set.of());
        // A new data source may now govern an unregistered table.
        assertTrue(TableAccessKey.affects(ordersChanged, alice, unregistered));
        assertFalse(TableAccessKey.affects(ordersChanged, alice, customers));
        assertTrue(TableAccessKey.affects(new ChangeSet(false, Set.of("sales.customers"), Set.of()), alice, customers));
        assertFalse(TableAccessKey.affects(new ChangeSet(false, Set.of(), Set.of("bob")), alice, unregistered));
        assertTrue(TableAccessKey.affects(new ChangeSet(false, Set.of(), Set.of("alice")), alice, customers));
        assertTrue(TableAccessKey.affects(ChangeSet.everythingChanged(), alice, customers));
    }

    // --- who and what is not governed

    @Test
    void theRunAsUserIsNeverGoverned()
            throws Exception
    {
        start();
        SystemSecurityContext admin = context("veil_admin");
        Set<SchemaTableName> listing = Set.of(CUSTOMER.getSchemaTableName(), NATION.getSchemaTableName());
        assertEquals(listing, control.filterTables(admin, "tpch", listing));
        assertEquals(List.of(), control.getRowFilters(admin, CUSTOMER));
        assertEquals(Map.of(), control.getColumnMasks(admin, CUSTOMER, CUSTOMER_COLUMNS));
        control.checkCanSelectFromColumns(admin, CUSTOMER, Set.of("address"));
        control.checkCanSelectFromColumns(admin, NATION, Set.of("name"));
        control.checkCanInsertIntoTable(admin, CUSTOMER);
        control.checkCanDropSchema(admin, new CatalogSchemaName("tpch", "tiny"));
        for (String function : VeilFunctions.list("system").stream().map(io.trino.spi.function.FunctionMetadata::getCanonicalName).toList()) {
            assertTrue(control.canExecuteFunction(admin, new CatalogSchemaRoutineName("veil", "system", function)), function);
            assertTrue(control.canCreateViewWithExecuteFunction(admin, new CatalogSchemaRoutineName("veil", "system", function)), function);
        }
        assertEquals(0, pdp.tableAccessRequests.size() + pdp.filterRequests.size());
    }

    @Test
    void unregisteredTablesAreAbsentByDefault()
            throws Exception
    {
        start();
        assertAbsent(NATION, () -> control.checkCanSelectFromColumns(context("alice"), NATION, Set.of("name")));
        assertAbsent(NATION, () -> control.getColumnMasks(context("alice"), NATION, List.of(column("name", false))));
        assertAbsent(NATION, () -> control.checkCanInsertIntoTable(context("alice"), NATION));
    }

    @Test
    void unregisteredTablesPassUntouchedWhenAllowed()
            throws Exception
    {
        start("veil.unregistered-tables", "allow");
        SystemSecurityContext alice = context("alice");
        control.checkCanSelectFromColumns(alice, NATION, Set.of("name", "regionkey"));
        assertEquals(List.of(), control.getRowFilters(alice, NATION));
        assertEquals(Map.of(), control.getColumnMasks(alice, NATION, List.of(column("name", false))));
        control.checkCanInsertIntoTable(alice, NATION);
        control.checkCanCreateTable(alice, new CatalogSchemaTableName("tpch", "tiny", "scratch"), Map.of());
        // Governed tables stay governed.
        assertAbsent(CUSTOMER, () -> control.checkCanSelectFromColumns(context("bob"), CUSTOMER, Set.of()));
    }

    @Test
    void catalogsVeilDoesNotGovernAreNeverAskedAbout()
            throws Exception
    {
        start("veil.governed-catalogs", "tpch, Memory");
        SystemSecurityContext bob = context("bob");
        for (String catalog : List.of("system", "veil", "hive")) {
            CatalogSchemaTableName table = new CatalogSchemaTableName(catalog, "s", "t");
            control.checkCanSelectFromColumns(bob, table, Set.of("x"));
            control.checkCanInsertIntoTable(bob, table);
            assertEquals(Set.of(table.getSchemaTableName()), control.filterTables(bob, catalog, Set.of(table.getSchemaTableName())));
        }
        assertEquals(0, pdp.tableAccessRequests.size() + pdp.filterRequests.size());
        assertAbsent(new CatalogSchemaTableName("memory", "s", "t"), () -> control.checkCanSelectFromColumns(bob, new CatalogSchemaTableName("memory", "s", "t"), Set.of()));
        // information_schema is left alone in a governed catalog too.
        control.checkCanSelectFromColumns(bob, new CatalogSchemaTableName("tpch", "information_schema", "tables"), Set.of("table_name"));
        assertEquals(1, pdp.tableAccessRequests.size());
    }

    @Test
    void byDefaultEveryCatalogButSystemAndVeilIsGoverned()
    {
        VeilCatalogs veilCatalogs = new VeilCatalogs();
        veilCatalogs.add("Veil");
        GovernedCatalogs governed = new GovernedCatalogs(Optional.empty(), veilCatalogs);
        assertTrue(governed.governs("tpch"));
        assertTrue(governed.governs("memory"));
        assertFalse(governed.governs("system"));
        assertFalse(governed.governs("veil"));
        veilCatalogs.add("governed2");
        assertFalse(governed.governs("governed2"));
        // A listed veil catalog is still not governed; an unlisted catalog is not either.
        GovernedCatalogs listed = new GovernedCatalogs(Optional.of(Set.of("tpch", "veil")), veilCatalogs);
        assertTrue(listed.governs("TPCH"));
        assertFalse(listed.governs("veil"));
        assertFalse(listed.governs("memory"));
    }

    // --- denied reads like absent

    @Test
    void aTableTheUserMayNotSeeReadsLikeOneThatDoesNotExist()
            throws Exception
    {
        start();
        SystemSecurityContext bob = context("bob");
        assertAbsent(CUSTOMER, () -> control.getColumnMasks(bob, CUSTOMER, CUSTOMER_COLUMNS));
        assertAbsent(CUSTOMER, () -> control.getRowFilters(bob, CUSTOMER));
        assertAbsent(CUSTOMER, () -> control.checkCanSelectFromColumns(bob, CUSTOMER, Set.of("custkey")));
        assertAbsent(CUSTOMER, () -> control.checkCanShowColumns(bob, CUSTOMER));
        assertAbsent(CUSTOMER, () -> control.checkCanShowCreateTable(bob, CUSTOMER));
        assertAbsent(CUSTOMER, () -> control.checkCanCreateViewWithSelectFromColumns(bob, CUSTOMER, Set.of()));
        assertAbsent(CUSTOMER, () -> control.checkCanDeleteFromTable(bob, CUSTOMER));
        assertEquals(Set.of(), control.filterColumns(bob, CUSTOMER, Set.of("custkey")));
        assertEquals(Map.of(), control.filterColumns(bob, "tpch", Map.of(CUSTOMER.getSchemaTableName(), Set.of("custkey"))));
    }

    @Test
    void aColumnOutsideTheDataSourceReadsLikeOneThatDoesNotExist()
            throws Exception
    {
        start();
        SystemSecurityContext alice = context("alice");
        control.checkCanSelectFromColumns(alice, CUSTOMER, Set.of("custkey", "NAME"));
        control.checkCanSelectFromColumns(alice, CUSTOMER, Set.of());
        TrinoException error = assertThrows(TrinoException.class, () -> control.checkCanSelectFromColumns(alice, CUSTOMER, Set.of("custkey", "address", "acctbal")));
        assertEquals(StandardErrorCode.COLUMN_NOT_FOUND.toErrorCode(), error.getErrorCode());
        assertEquals("Column 'acctbal' cannot be resolved", error.getMessage());
        assertFalse(error instanceof AccessDeniedException);
    }

    @Test
    void aConnectorsMetadataTableOfAGovernedTableIsAbsent()
            throws Exception
    {
        start("veil.unregistered-tables", "allow");
        CatalogSchemaTableName partitions = new CatalogSchemaTableName("tpch", "tiny", "customer$partitions");
        assertAbsent(partitions, () -> control.checkCanSelectFromColumns(context("alice"), partitions, Set.of("x")));
        assertEquals("customer", pdp.tableAccessRequests.getFirst().getTable().getTable());
        control.checkCanSelectFromColumns(context("alice"), new CatalogSchemaTableName("tpch", "tiny", "nation$files"), Set.of("x"));
        assertEquals(
                Set.of(CUSTOMER.getSchemaTableName(), new SchemaTableName("tiny", "nation$files")),
                control.filterTables(context("alice"), "tpch", Set.of(CUSTOMER.getSchemaTableName(), partitions.getSchemaTableName(), new SchemaTableName("tiny", "nation$files"))));
    }

    // --- writes and other ways around Veil

    @Test
    void writesToGovernedTablesAreRefused()
            throws Exception
    {
        start();
        SystemSecurityContext alice = context("alice");
        assertDenied("Access Denied: Cannot insert into table tpch.tiny.customer: Veil: the table is governed, and governed tables are read-only",
                () -> control.checkCanInsertIntoTable(alice, CUSTOMER));
        for (Executable write : List.<Executable>of(
                () -> control.checkCanDeleteFromTable(alice, CUSTOMER),
                () -> control.checkCanUpdateTableColumns(alice, CUSTOMER, Set.of("name")),
                () -> control.checkCanTruncateTable(alice, CUSTOMER),
                () -> control.checkCanDropTable(alice, CUSTOMER),
                () -> control.checkCanAddColumn(alice, CUSTOMER),
                () -> control.checkCanAlterColumn(alice, CUSTOMER),
                () -> control.checkCanDropColumn(alice, CUSTOMER),
                () -> control.checkCanRenameColumn(alice, CUSTOMER),
                () -> control.checkCanSetTableComment(alice, CUSTOMER),
                () -> control.checkCanSetTableProperties(alice, CUSTOMER, Map.of()),
                () -> control.checkCanExecuteTableProcedure(alice, CUSTOMER, "optimize"),
                () -> control.checkCanRenameTable(alice, CUSTOMER, new CatalogSchemaTableName("memory", "default", "copy")),
                () -> control.checkCanGrantTablePrivilege(alice, io.trino.spi.security.Privilege.SELECT, CUSTOMER, new TrinoPrincipal(USER, "bob"), false),
                () -> control.checkCanSetEntityAuthorization(alice, new EntityKindAndName("TABLE", List.of("tpch", "tiny", "customer")), new TrinoPrincipal(USER, "alice")),
                () -> control.checkCanShowCreateTable(alice, CUSTOMER))) {
            AccessDeniedException error = assertThrows(AccessDeniedException.class, write);
            assertTrue(error.getMessage().contains("Veil: "), error.getMessage());
        }
        // CREATE TABLE (AS) into a governed name, and into an unregistered one while those are denied.
        assertDenied("Access Denied: Cannot create table tpch.tiny.customer: Veil: catalog tpch is governed, and this name is not open to writes",
                () -> control.checkCanCreateTable(alice, CUSTOMER, Map.of()));
        assertDenied("Access Denied: Cannot create table tpch.tiny.scratch: Veil: catalog tpch is governed, and this name is not open to writes",
                () -> control.checkCanCreateTable(alice, new CatalogSchemaTableName("tpch", "tiny", "scratch"), Map.of()));
        // Reading a governed table to write elsewhere is a read: allowed, and masked.
        control.checkCanInsertIntoTable(alice, new CatalogSchemaTableName("system", "s", "t"));
        assertEquals(2, control.getColumnMasks(alice, CUSTOMER, CUSTOMER_COLUMNS).size());
    }

    @Test
    void aDefinerViewCannotPassOnAGovernedTable()
            throws Exception
    {
        start();
        AccessDeniedException error = assertThrows(AccessDeniedException.class, () -> control.checkCanCreateViewWithSelectFromColumns(context("alice"), CUSTOMER, Set.of("custkey")));
        assertTrue(error.getMessage().contains("Veil: a view owned by another user cannot pass on a governed table"), error.getMessage());
    }

    @Test
    void structureAndRoutinesOfGovernedCatalogsAreTheRunAsUsers()
            throws Exception
    {
        start();
        SystemSecurityContext alice = context("alice");
        assertThrows(AccessDeniedException.class, () -> control.checkCanDropSchema(alice, new CatalogSchemaName("tpch", "tiny")));
        assertThrows(AccessDeniedException.class, () -> control.checkCanRenameSchema(alice, new CatalogSchemaName("tpch", "tiny"), "other"));
        assertThrows(AccessDeniedException.class, () -> control.checkCanCreateCatalog(alice, "copy"));
        assertThrows(AccessDeniedException.class, () -> control.checkCanExecuteProcedure(alice, new CatalogSchemaRoutineName("tpch", "system", "rollback")));
        assertFalse(control.canExecuteFunction(alice, new CatalogSchemaRoutineName("tpch", "system", "query")));
        // The keyed mask functions: the run-as user's alone.
        assertEquals(List.of("hash", "fpe", "fpe_decrypt", "encrypt", "decrypt", "uniform"), KEYED_FUNCTIONS);
        for (String function : KEYED_FUNCTIONS) {
            assertFalse(control.canExecuteFunction(alice, new CatalogSchemaRoutineName("veil", "system", function)), function);
            assertFalse(control.canCreateViewWithExecuteFunction(alice, new CatalogSchemaRoutineName("veil", "system", function)), function);
        }
        // Except reveal, which asks the PDP itself for whoever calls it.
        assertTrue(control.canExecuteFunction(alice, new CatalogSchemaRoutineName("veil", "system", "reveal")));
        assertTrue(control.canCreateViewWithExecuteFunction(alice, new CatalogSchemaRoutineName("veil", "system", "reveal")));
        // Only in schema system of a veil catalog: another catalog's reveal is that catalog's business.
        assertFalse(control.canExecuteFunction(alice, new CatalogSchemaRoutineName("tpch", "system", "reveal")));
        assertTrue(control.canExecuteFunction(alice, new CatalogSchemaRoutineName("system", "builtin", "lower")));
        control.checkCanExecuteProcedure(alice, new CatalogSchemaRoutineName("system", "runtime", "kill_query"));
        // Nobody may become the run-as user; other impersonation is the other access controls' business.
        assertThrows(AccessDeniedException.class, () -> control.checkCanImpersonateUser(Identity.ofUser("alice"), "veil_admin"));
        control.checkCanImpersonateUser(Identity.ofUser("alice"), "bob");
        // Another user's query text may hold governed values: only its owner and the run-as user see or kill it.
        Identity aliceIdentity = Identity.ofUser("alice");
        Identity bobIdentity = Identity.ofUser("bob");
        Identity adminIdentity = Identity.ofUser("veil_admin");
        assertThrows(AccessDeniedException.class, () -> control.checkCanViewQueryOwnedBy(aliceIdentity, bobIdentity));
        assertThrows(AccessDeniedException.class, () -> control.checkCanKillQueryOwnedBy(aliceIdentity, adminIdentity));
        control.checkCanViewQueryOwnedBy(aliceIdentity, aliceIdentity);
        control.checkCanKillQueryOwnedBy(adminIdentity, bobIdentity);
        assertEquals(List.of(aliceIdentity), control.filterViewQueryOwnedBy(aliceIdentity, List.of(aliceIdentity, bobIdentity, adminIdentity)));
        assertEquals(List.of(aliceIdentity, bobIdentity, adminIdentity), control.filterViewQueryOwnedBy(adminIdentity, List.of(aliceIdentity, bobIdentity, adminIdentity)));
        control.checkCanSetUser(Optional.empty(), "veil_admin");
        // What a read needs, and what the SPI denies by default, is allowed.
        control.checkCanExecuteQuery(Identity.ofUser("alice"), alice.getQueryId());
        assertTrue(control.canAccessCatalog(alice, "tpch"));
        control.checkCanShowSchemas(alice, "tpch");
        control.checkCanShowTables(alice, new CatalogSchemaName("tpch", "tiny"));
        control.checkCanShowColumns(alice, CUSTOMER);
        control.checkCanSetSystemSessionProperty(Identity.ofUser("alice"), alice.getQueryId(), "query_max_run_time");
        assertEquals(Set.of("tpch", "system"), control.filterCatalogs(alice, Set.of("tpch", "system")));
        assertEquals(Set.of("tiny"), control.filterSchemas(alice, "tpch", Set.of("tiny")));
    }

    // --- failing closed

    @Test
    void aStoppedPdpFailsEveryGovernedQueryAndListingClosed()
            throws Exception
    {
        start();
        control.getRowFilters(context("alice"), ORDERS);
        pdp.close();
        for (Executable call : List.<Executable>of(
                () -> control.checkCanSelectFromColumns(context("alice"), CUSTOMER, Set.of("custkey")),
                () -> control.getColumnMasks(context("alice"), CUSTOMER, CUSTOMER_COLUMNS),
                () -> control.getRowFilters(context("alice"), NATION),
                () -> control.checkCanInsertIntoTable(context("alice"), NATION),
                () -> control.filterTables(context("alice"), "tpch", Set.of(CUSTOMER.getSchemaTableName())),
                () -> control.filterSchemas(context("alice"), "tpch", Set.of("tiny")),
                () -> control.filterColumns(context("alice"), "tpch", Map.of(CUSTOMER.getSchemaTableName(), Set.of("custkey"))))) {
            TrinoException error = assertThrows(TrinoException.class, call);
            assertEquals(VeilErrorCode.VEIL_PDP_UNAVAILABLE.toErrorCode(), error.getErrorCode());
            assertTrue(error.getMessage().startsWith("Veil: the policy decision point at " + pdp.address() + " is unreachable"), error.getMessage());
        }
        // A fresh cached answer keeps working; tables Veil does not govern need no PDP.
        assertEquals(1, control.getRowFilters(context("alice"), ORDERS).size());
        control.checkCanSelectFromColumns(context("alice"), new CatalogSchemaTableName("system", "runtime", "nodes"), Set.of("node_id"));
    }

    @Test
    void aPdpThatDoesNotAnswerInTimeFailsClosed()
            throws Exception
    {
        start();
        TrinoException error = assertThrows(TrinoException.class, () -> control.checkCanSelectFromColumns(context("slow"), CUSTOMER, Set.of()));
        assertEquals(VeilErrorCode.VEIL_PDP_UNAVAILABLE.toErrorCode(), error.getErrorCode());
        assertTrue(error.getMessage().contains("DEADLINE_EXCEEDED"), error.getMessage());
    }

    @Test
    void aRefusedProjectIsPermissionDenied()
            throws Exception
    {
        start();
        SystemSecurityContext forbidden = context(Identity.forUser("alice").withExtraCredentials(Map.of("veil.project", "forbidden")).build());
        TrinoException error = assertThrows(TrinoException.class, () -> control.getRowFilters(forbidden, CUSTOMER));
        assertEquals(StandardErrorCode.PERMISSION_DENIED.toErrorCode(), error.getErrorCode());
        assertEquals("`alice` is not a member of project `forbidden`", error.getMessage());
        assertThrows(TrinoException.class, () -> control.filterTables(forbidden, "tpch", Set.of(CUSTOMER.getSchemaTableName())));
    }

    @Test
    void anUnusableAnswerFailsTheQuery()
            throws Exception
    {
        start();
        pdp.answers.put("carol|tpch.tiny.customer", veil.v1.Decision.GetTableAccessResponse.newBuilder()
                .setGoverned(true)
                .setVisible(true)
                .setDataSource("sales.customers")
                .addColumns("custkey")
                .addColumnMasks(veil.v1.Decision.ColumnMask.newBuilder().setColumn("phone").setExpression("'***'"))
                .build());
        TrinoException error = assertThrows(TrinoException.class, () -> control.getColumnMasks(context("carol"), CUSTOMER, CUSTOMER_COLUMNS));
        assertEquals(VeilErrorCode.VEIL_INVALID_VIEW.toErrorCode(), error.getErrorCode());
        assertTrue(error.getMessage().startsWith("Veil: the policy decision point returned an unusable answer for `tpch.tiny.customer`"), error.getMessage());
    }

    // --- helpers

    private SystemSecurityContext context(String user)
    {
        return context(Identity.ofUser(user));
    }

    private SystemSecurityContext context(Identity identity)
    {
        return new SystemSecurityContext(identity, QueryId.valueOf("q" + queries.incrementAndGet()), Instant.now());
    }

    private static ColumnSchema column(String name, boolean hidden)
    {
        return ColumnSchema.builder().setName(name).setType(VARCHAR).setHidden(hidden).build();
    }

    private static void assertAbsent(CatalogSchemaTableName table, Executable call)
    {
        TrinoException error = assertThrows(TrinoException.class, call);
        assertEquals(StandardErrorCode.TABLE_NOT_FOUND.toErrorCode(), error.getErrorCode());
        assertEquals("Table '%s' does not exist".formatted(table), error.getMessage());
        assertFalse(error instanceof AccessDeniedException);
    }

    private static void assertDenied(String message, Executable call)
    {
        AccessDeniedException error = assertThrows(AccessDeniedException.class, call);
        assertEquals(message, error.getMessage());
    }

    /** Repeats the call, each time as a new query, until the PDP has had {@code requests} table requests. */
    private void awaitReasked(Runnable call, int requests)
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
