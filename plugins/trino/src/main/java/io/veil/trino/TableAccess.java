package io.veil.trino;

import io.trino.spi.TrinoException;
import veil.v1.Decision.ColumnMask;
import veil.v1.Decision.GetTableAccessResponse;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import static io.veil.trino.VeilErrorCode.VEIL_INVALID_VIEW;
import static java.util.Objects.requireNonNull;

/**
 * The PDP's answer about one backing table for one identity ({@code GetTableAccess}), checked once:
 * whether a data source governs it, whether the user may see it, and if so its columns, row filters
 * and column masks and the identity they run as.
 *
 * @param columns the data source's columns (lowercase, as Trino names columns); the user sees no other
 * @param masks column (lowercase) → SQL expression of the column's own type
 * @param runAs the identity filters and masks are evaluated as: always the configured run-as user
 */
public record TableAccess(
        boolean governed,
        boolean visible,
        Optional<String> dataSource,
        Set<String> columns,
        List<String> rowFilters,
        Map<String, String> masks,
        String runAs,
        long policyVersion)
{
    public TableAccess
    {
        requireNonNull(dataSource, "dataSource is null");
        columns = Set.copyOf(columns);
        rowFilters = List.copyOf(rowFilters);
        masks = Map.copyOf(masks);
        requireNonNull(runAs, "runAs is null");
    }

    /** What a table no data source governs is: nothing but that. */
    public static TableAccess unregistered(long policyVersion)
    {
        return new TableAccess(false, false, Optional.empty(), Set.of(), List.of(), Map.of(), "", policyVersion);
    }

    /** A governed table the user may not see. */
    public static TableAccess invisible(Optional<String> dataSource, long policyVersion)
    {
        return new TableAccess(true, false, dataSource, Set.of(), List.of(), Map.of(), "", policyVersion);
    }

    /**
     * @param defaultRunAs the configured run-as user, for an answer that names none
     * @throws TrinoException when a visible answer is unusable: no columns, an empty filter or mask,
     * a mask of a column the data source does not have, another run-as identity than the configured one
     */
    public static TableAccess fromProto(String table, GetTableAccessResponse response, String defaultRunAs)
    {
        Optional<String> dataSource = nonEmpty(response.getDataSource());
        if (!response.getGoverned()) {
            return unregistered(response.getPolicyVersion());
        }
        if (!response.getVisible()) {
            return invisible(dataSource, response.getPolicyVersion());
        }
        if (response.getColumnsCount() == 0) {
            throw invalid(table, "no columns");
        }
        Set<String> columns = new java.util.LinkedHashSet<>();
        for (String column : response.getColumnsList()) {
            columns.add(column(column));
        }
        for (String filter : response.getRowFiltersList()) {
            if (filter.isBlank()) {
                throw invalid(table, "an empty row filter");
            }
        }
        Map<String, String> masks = new LinkedHashMap<>();
        for (ColumnMask mask : response.getColumnMasksList()) {
            String column = column(mask.getColumn());
            if (!columns.contains(column)) {
                throw invalid(table, "a mask of column `%s`, which the data source does not have".formatted(mask.getColumn()));
            }
            if (mask.getExpression().isBlank()) {
                throw invalid(table, "an empty mask of column `%s`".formatted(mask.getColumn()));
            }
            if (masks.put(column, mask.getExpression()) != null) {
                throw invalid(table, "two masks of column `%s`".formatted(mask.getColumn()));
            }
        }
        // Trino checks the expressions' identity's own SELECT on the columns they read: only the
        // run-as user, whom this access control never governs, can be that identity.
        String runAs = response.getRunAs().isEmpty() ? defaultRunAs : response.getRunAs();
        if (!runAs.equals(defaultRunAs)) {
            throw invalid(table, "filters and masks run as `%s`, but the access control's run-as user is `%s` (set `%s` to the PDP's view owner)".formatted(
                    runAs, defaultRunAs, VeilConfig.RUN_AS_USER));
        }
        return new TableAccess(true, true, dataSource, columns, response.getRowFiltersList(), masks, runAs, response.getPolicyVersion());
    }

    /** The given columns that the data source has, in their order. */
    public Set<String> visibleColumns(Set<String> requested)
    {
        Set<String> visible = new java.util.LinkedHashSet<>();
        for (String name : requested) {
            if (columns.contains(column(name))) {
                visible.add(name);
            }
        }
        return visible;
    }

    /** Trino names columns in lowercase; so does every set and map here. */
    static String column(String name)
    {
        return name.toLowerCase(java.util.Locale.ENGLISH);
    }

    private static Optional<String> nonEmpty(String value)
    {
        return value.isEmpty() ? Optional.empty() : Optional.of(value);
    }

    private static TrinoException invalid(String table, String problem)
    {
        return new TrinoException(VEIL_INVALID_VIEW, "Veil: the policy decision point returned an unusable answer for `%s`: %s".formatted(table, problem));
    }
}
