package io.veil.trino;

import io.trino.spi.TrinoException;
import io.trino.spi.function.BoundSignature;
import io.trino.spi.function.FunctionDependencies;
import io.trino.spi.function.FunctionId;
import io.trino.spi.function.FunctionMetadata;
import io.trino.spi.function.FunctionProvider;
import io.trino.spi.function.InvocationConvention;
import io.trino.spi.function.ScalarFunctionAdapter;
import io.trino.spi.function.ScalarFunctionImplementation;

import java.lang.invoke.MethodHandle;
import java.util.Map;

import static io.trino.spi.StandardErrorCode.FUNCTION_IMPLEMENTATION_ERROR;

/**
 * The implementations of {@link VeilFunctions} for one catalog, bound to its mask keys (and the
 * subkeys derived from them, once, here). Trino asks for a method handle in the calling convention
 * it needs and only checks the result, so each handle is adapted here from the one convention its
 * function implements, which is also where null-on-null-input is implemented. {@code reveal} takes
 * the session: Trino always asks for a convention that supports one ({@code BytecodeUtils},
 * {@code InterpretedFunctionInvoker} in Trino 476), and a convention that does not is refused here.
 */
public final class VeilFunctionProvider
        implements FunctionProvider
{
    /** A function's own method handle and the convention it is written in. */
    private record Implementation(InvocationConvention convention, MethodHandle handle) {}

    private final Map<FunctionId, Implementation> implementations;

    /**
     * @param grants where {@code reveal} asks the PDP
     * @param reporter where {@code reveal} counts what it opens
     */
    VeilFunctionProvider(String catalogName, MaskKeys keys, RevealGrants grants, RevealReporter reporter)
    {
        HashMaskFunction hash = new HashMaskFunction(catalogName, keys);
        FpeMaskFunction fpe = new FpeMaskFunction(catalogName, keys);
        ReversibleMaskFunction reversible = new ReversibleMaskFunction(catalogName, keys);
        UniformMaskFunction uniform = new UniformMaskFunction(catalogName, keys);
        RevealFunction reveal = new RevealFunction(reversible, grants, reporter);
        this.implementations = Map.of(
                id(HashMaskFunction.METADATA), new Implementation(HashMaskFunction.CONVENTION, hash.methodHandle()),
                id(FpeMaskFunction.ENCRYPT_METADATA), new Implementation(FpeMaskFunction.CONVENTION, fpe.encryptHandle()),
                id(FpeMaskFunction.DECRYPT_METADATA), new Implementation(FpeMaskFunction.CONVENTION, fpe.decryptHandle()),
                id(ReversibleMaskFunction.ENCRYPT_METADATA), new Implementation(ReversibleMaskFunction.ENCRYPT_CONVENTION, reversible.encryptHandle()),
                id(ReversibleMaskFunction.DECRYPT_METADATA), new Implementation(ReversibleMaskFunction.DECRYPT_CONVENTION, reversible.decryptHandle()),
                id(UniformMaskFunction.METADATA), new Implementation(UniformMaskFunction.CONVENTION, uniform.methodHandle()),
                id(RevealFunction.METADATA), new Implementation(RevealFunction.CONVENTION, reveal.methodHandle()));
    }

    private static FunctionId id(FunctionMetadata metadata)
    {
        return metadata.getFunctionId();
    }

    @Override
    public ScalarFunctionImplementation getScalarFunctionImplementation(
            FunctionId functionId,
            BoundSignature boundSignature,
            FunctionDependencies functionDependencies,
            InvocationConvention invocationConvention)
    {
        Implementation implementation = implementations.get(functionId);
        if (implementation == null) {
            throw new IllegalArgumentException("Unknown function " + functionId);
        }
        if (!ScalarFunctionAdapter.canAdapt(implementation.convention(), invocationConvention)) {
            throw new TrinoException(FUNCTION_IMPLEMENTATION_ERROR, "Veil: %s cannot be called with convention %s".formatted(boundSignature, invocationConvention));
        }
        MethodHandle handle = ScalarFunctionAdapter.adapt(
                implementation.handle(),
                boundSignature.getReturnType(),
                boundSignature.getArgumentTypes(),
                implementation.convention(),
                invocationConvention);
        return ScalarFunctionImplementation.builder()
                .methodHandle(handle)
                .build();
    }
}
