package io.veil.trino;

import io.trino.spi.TrinoException;
import io.trino.spi.function.BoundSignature;
import io.trino.spi.function.FunctionDependencies;
import io.trino.spi.function.FunctionId;
import io.trino.spi.function.FunctionProvider;
import io.trino.spi.function.InvocationConvention;
import io.trino.spi.function.ScalarFunctionAdapter;
import io.trino.spi.function.ScalarFunctionImplementation;

import java.lang.invoke.MethodHandle;

import static io.trino.spi.StandardErrorCode.FUNCTION_IMPLEMENTATION_ERROR;

/**
 * The implementations of {@link VeilFunctions} for one catalog, bound to its mask keys. Trino asks
 * for a method handle in the calling convention it needs and only checks the result, so the
 * handle is adapted here, which is also where null-on-null-input is implemented.
 */
public final class VeilFunctionProvider
        implements FunctionProvider
{
    private final HashMaskFunction hash;

    public VeilFunctionProvider(String catalogName, MaskKeys keys)
    {
        this.hash = new HashMaskFunction(catalogName, keys);
    }

    @Override
    public ScalarFunctionImplementation getScalarFunctionImplementation(
            FunctionId functionId,
            BoundSignature boundSignature,
            FunctionDependencies functionDependencies,
            InvocationConvention invocationConvention)
    {
        if (!functionId.equals(HashMaskFunction.METADATA.getFunctionId())) {
            throw new IllegalArgumentException("Unknown function " + functionId);
        }
        if (!ScalarFunctionAdapter.canAdapt(HashMaskFunction.CONVENTION, invocationConvention)) {
            throw new TrinoException(FUNCTION_IMPLEMENTATION_ERROR, "Veil: %s cannot be called with convention %s".formatted(boundSignature, invocationConvention));
        }
        MethodHandle handle = ScalarFunctionAdapter.adapt(
                hash.methodHandle(),
                boundSignature.getReturnType(),
                boundSignature.getArgumentTypes(),
                HashMaskFunction.CONVENTION,
                invocationConvention);
        return ScalarFunctionImplementation.builder()
                .methodHandle(handle)
                .build();
    }
}
