package io.veil.trino;

import io.trino.spi.TrinoException;
import io.trino.spi.connector.ColumnSchema;
import io.trino.spi.connector.SchemaTableName;
import io.trino.spi.security.Identity;
import io.trino.spi.security.SystemSecurityContext;
import io.trino.spi.security.ViewExpression;
import org.junit.jupiter.api.Test;
import veil.v1.Decision.ChangeEvent;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import static io.trino.spi.type.BigintType.BIGINT;
import static io.trino.spi.type.VarcharType.VARCHAR;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The system access control against a scripted PDP over real gRPC: what each answer becomes in Trino
 * (listings, row filters, column masks) and how few calls it takes, how answers are cached per
 * user, groups and project, and which change events drop them.
 */
class VeilSystemAccessControlTest
        extends AccessControlFixture
{
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
}
