package io.veil.trino;

import io.trino.spi.StandardErrorCode;
import io.trino.spi.TrinoException;
import io.trino.spi.connector.CatalogSchemaTableName;
import io.trino.spi.security.Identity;
import io.trino.spi.security.SystemSecurityContext;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The system access control fails closed: a stopped or slow PDP, a refused project and an unusable
 * answer each fail the query, never pass it.
 */
class AccessControlFailClosedTest
        extends AccessControlFixture
{
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
}
