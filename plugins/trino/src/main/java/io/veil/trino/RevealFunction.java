package io.veil.trino;

import io.airlift.slice.Slice;
import io.trino.spi.TrinoException;
import io.trino.spi.connector.ConnectorSession;
import io.trino.spi.function.FunctionMetadata;
import io.trino.spi.function.InvocationConvention;
import io.trino.spi.function.Signature;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.util.List;

import static io.trino.spi.StandardErrorCode.INVALID_FUNCTION_ARGUMENT;
import static io.trino.spi.function.InvocationConvention.InvocationArgumentConvention.NEVER_NULL;
import static io.trino.spi.function.InvocationConvention.InvocationReturnConvention.FAIL_ON_NULL;
import static io.trino.spi.type.VarcharType.VARCHAR;
import static java.lang.invoke.MethodType.methodType;
import static java.util.Objects.requireNonNull;

/**
 * The {@code reveal} grant of the reversible mask:
 * {@code reveal(data_source varchar, column varchar, token varchar) -> varchar}, the value a token of
 * {@link ReversibleMaskFunction#encrypt} holds, for end users the PDP allows to see it. Unlike the
 * other functions of the catalog's schema {@value VeilFunctions#SCHEMA}, anyone may call it
 * ({@link VeilSystemAccessControl}): it authorizes itself.
 *
 * <p>The function takes the query's session (its convention {@linkplain InvocationConvention#supportsSession()
 * supports the session}; Trino passes a {@link ConnectorSession} to a method handle whose first
 * parameter is one). The first token of a query for a data source and column asks the PDP
 * ({@code AuthorizeReveal}, {@link RevealGrants}) whether the session's user, groups and project may
 * reveal that column, and under which policy; the answer serves the rest of the query on this node.
 * Then:
 * <ul>
 * <li>refused: the query fails with {@code PERMISSION_DENIED}, {@code Access Denied: Veil: cannot
 *     reveal <data_source>.<column>: <reason>};</li>
 * <li>no answer (the PDP is unreachable or failed): the query fails closed, with a Veil error;</li>
 * <li>allowed: the token is opened under the associated data of its key id and the policy the PDP
 *     named, so a token of another policy, like a malformed one, fails with
 *     {@link VeilErrorCode#VEIL_MASK_TOKEN_INVALID} (echoing no clear value and no key); each value
 *     opened is counted for the PDP ({@link RevealReporter}).</li>
 * </ul>
 * NULL in gives NULL, without asking the PDP. Declared nondeterministic: its answer depends on the
 * PDP, and every call is counted, so Trino must neither fold it at planning nor share one call
 * between two.
 */
final class RevealFunction
{
    static final String NAME = "reveal";
    static final FunctionMetadata METADATA = FunctionMetadata.scalarBuilder(NAME)
            .signature(Signature.builder()
                    .returnType(VARCHAR)
                    .argumentType(VARCHAR)
                    .argumentType(VARCHAR)
                    .argumentType(VARCHAR)
                    .build())
            .nondeterministic()
            .description("The value an encrypt token of a column holds, if the Veil policy decision point allows the user to reveal that column: reveal(data_source, column, token)")
            .build();
    /** How {@link #reveal} itself is called: the session first, then the three arguments. */
    static final InvocationConvention CONVENTION = new InvocationConvention(List.of(NEVER_NULL, NEVER_NULL, NEVER_NULL), FAIL_ON_NULL, true, false);

    private static final MethodHandle REVEAL;

    static {
        try {
            REVEAL = MethodHandles.lookup().findVirtual(RevealFunction.class, "reveal", methodType(Slice.class, ConnectorSession.class, Slice.class, Slice.class, Slice.class));
        }
        catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final ReversibleMaskFunction reversible;
    private final RevealGrants grants;
    private final RevealReporter reporter;

    RevealFunction(ReversibleMaskFunction reversible, RevealGrants grants, RevealReporter reporter)
    {
        this.reversible = requireNonNull(reversible, "reversible is null");
        this.grants = requireNonNull(grants, "grants is null");
        this.reporter = requireNonNull(reporter, "reporter is null");
    }

    /** {@link #reveal} bound to this catalog, in {@link #CONVENTION}. */
    MethodHandle methodHandle()
    {
        return REVEAL.bindTo(this);
    }

    Slice reveal(ConnectorSession session, Slice dataSource, Slice column, Slice token)
    {
        String dataSourceName = dataSource.toStringUtf8();
        String columnName = column.toStringUtf8();
        if (dataSourceName.isBlank() || columnName.isBlank()) {
            throw new TrinoException(INVALID_FUNCTION_ARGUMENT, "Veil: reveal needs a data source and a column, and the %s is empty".formatted(dataSourceName.isBlank() ? "data source" : "column"));
        }
        RevealGrants.Allowed allowed = grants.check(session, dataSourceName, columnName);
        Slice value = reversible.open(NAME, allowed.policy(), token);
        reporter.count(allowed.count());
        return value;
    }
}
