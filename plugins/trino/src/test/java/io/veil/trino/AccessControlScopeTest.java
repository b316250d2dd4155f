package io.veil.trino;

import io.trino.spi.StandardErrorCode;
import io.trino.spi.TrinoException;
import io.trino.spi.connector.CatalogSchemaName;
import io.trino.spi.connector.CatalogSchemaRoutineName;
import io.trino.spi.connector.CatalogSchemaTableName;
import io.trino.spi.connector.EntityKindAndName;
import io.trino.spi.connector.SchemaTableName;
import io.trino.spi.security.AccessDeniedException;
import io.trino.spi.security.Identity;
import io.trino.spi.security.SystemSecurityContext;
import io.trino.spi.security.TrinoPrincipal;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import static io.trino.spi.security.PrincipalType.USER;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What the system access control leaves alone (the run-as user, catalogs it does not govern,
 * unregistered tables when allowed), how a denied read reads like an absent table, and that writes
 * and other ways around Veil are refused on governed tables.
 */
class AccessControlScopeTest
        extends AccessControlFixture
{
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
}
