package io.veil.trino;

import io.trino.spi.TrinoException;
import io.trino.spi.connector.ConnectorViewDefinition;
import io.trino.spi.connector.ConnectorViewDefinition.ViewColumn;
import io.trino.spi.type.TypeId;
import veil.v1.Decision.GetViewDefinitionResponse;

import java.util.List;
import java.util.Optional;
import java.util.function.Function;

import static io.veil.trino.VeilErrorCode.VEIL_INVALID_VIEW;

/**
 * Turns the PDP's answer into the definer view Trino runs: the PDP's SQL (fully qualified, so no
 * catalog or schema of its own), exactly its columns and types, owned by the run-as user.
 */
public final class ViewDefinitions
{
    private ViewDefinitions() {}

    /**
     * @param typeIds parses a Trino type name (`varchar(25)`) into the canonical type id, throwing on an unknown type
     */
    public static ConnectorViewDefinition toView(String schema, String table, GetViewDefinitionResponse response, String runAsUser, Function<String, TypeId> typeIds)
    {
        if (response.getSql().isBlank()) {
            throw invalid(schema, table, "no SQL");
        }
        if (response.getColumnsCount() == 0) {
            throw invalid(schema, table, "no columns");
        }
        List<ViewColumn> columns = response.getColumnsList().stream()
                .map(column -> {
                    TypeId type;
                    try {
                        type = typeIds.apply(column.getType());
                    }
                    catch (RuntimeException e) {
                        throw invalid(schema, table, "column `%s` has unknown type `%s`".formatted(column.getName(), column.getType()));
                    }
                    return new ViewColumn(column.getName(), type, nonEmpty(column.getComment()));
                })
                .toList();
        String owner = response.getOwner().isEmpty() ? runAsUser : response.getOwner();
        return new ConnectorViewDefinition(
                response.getSql(),
                Optional.empty(),
                Optional.empty(),
                columns,
                nonEmpty(response.getComment()),
                Optional.of(owner),
                false,
                List.of());
    }

    private static Optional<String> nonEmpty(String value)
    {
        return value.isEmpty() ? Optional.empty() : Optional.of(value);
    }

    private static TrinoException invalid(String schema, String table, String problem)
    {
        return new TrinoException(VEIL_INVALID_VIEW, "Veil: the policy decision point returned an unusable view for `%s.%s`: %s".formatted(schema, table, problem));
    }
}
