package io.veil.trino;

import io.trino.spi.function.FunctionDependencyDeclaration;
import io.trino.spi.function.FunctionId;
import io.trino.spi.function.FunctionMetadata;
import io.trino.spi.function.SchemaFunctionName;

import java.util.Collection;
import java.util.List;

/**
 * The functions every Veil catalog declares, all in schema {@value #SCHEMA}: what its metadata
 * lists and resolves. They are the same in every catalog; their keys live in {@link VeilFunctionProvider}.
 * All but {@code reveal} are the run-as user's alone ({@link VeilSystemAccessControl}).
 * The schema is not one of the catalog's schemas: Trino resolves and lists catalog functions without
 * asking whether their schema exists.
 */
final class VeilFunctions
{
    static final String SCHEMA = "system";

    private static final List<FunctionMetadata> ALL = List.of(
            HashMaskFunction.METADATA,
            FpeMaskFunction.ENCRYPT_METADATA,
            FpeMaskFunction.DECRYPT_METADATA,
            ReversibleMaskFunction.ENCRYPT_METADATA,
            ReversibleMaskFunction.DECRYPT_METADATA,
            UniformMaskFunction.METADATA,
            RevealFunction.METADATA);

    private VeilFunctions() {}

    static Collection<FunctionMetadata> list(String schemaName)
    {
        return SCHEMA.equals(schemaName) ? ALL : List.of();
    }

    static Collection<FunctionMetadata> get(SchemaFunctionName name)
    {
        if (!SCHEMA.equals(name.getSchemaName())) {
            return List.of();
        }
        return ALL.stream()
                .filter(function -> function.getNames().contains(name.getFunctionName()))
                .toList();
    }

    /** @throws IllegalArgumentException for an id that is not one of these functions, as the SPI expects */
    static FunctionMetadata metadata(FunctionId functionId)
    {
        return ALL.stream()
                .filter(function -> function.getFunctionId().equals(functionId))
                .findFirst()
                .orElseThrow(() -> new IllegalArgumentException("Unknown function " + functionId));
    }

    /** None of them calls another function or needs a type looked up. */
    static FunctionDependencyDeclaration dependencies(FunctionId functionId)
    {
        metadata(functionId);
        return FunctionDependencyDeclaration.NO_DEPENDENCIES;
    }
}
