package io.veil.trino;

import io.airlift.slice.Slice;
import io.airlift.slice.Slices;
import io.trino.spi.function.BoundSignature;
import io.trino.spi.function.CatalogSchemaFunctionName;
import io.trino.spi.function.FunctionMetadata;
import io.trino.spi.function.InvocationConvention;
import io.trino.spi.function.ScalarFunctionImplementation;
import io.trino.spi.type.Type;
import io.trino.spi.type.TypeSignature;
import veil.v1.Decision.AuthorizeRevealResponse;
import veil.v1.Decision.RecordRevealsRequest;

import java.lang.invoke.MethodHandle;
import java.util.List;
import java.util.Map;

import static io.trino.spi.type.DoubleType.DOUBLE;
import static io.trino.spi.type.VarcharType.VARCHAR;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The keyed mask functions called the way Trino calls them: an implementation per calling convention, invoked with Slices. */
final class MaskFunctionCalls
{
    static final String K1 = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    static final String K2 = "C0FFEEC0FFEEC0FFEEC0FFEEC0FFEEC0FFEEC0FFEEC0FFEEC0FFEEC0FFEEC0FF";

    private MaskFunctionCalls() {}

    static MaskKeys keys(String text)
    {
        return VeilConfig.fromProperties(Map.of("veil.pdp.address", "pdp:50051", "veil.run-as-user", "veil_admin", "veil.mask.keys", text)).maskKeys();
    }

    /** What reveal asks of the PDP, for tests that never call reveal: any call fails the test. */
    static final RevealPdp NO_PDP = new RevealPdp()
    {
        @Override
        public AuthorizeRevealResponse authorizeReveal(PdpIdentity identity, String queryId, String dataSource, String column)
        {
            throw new AssertionError("reveal asked the PDP");
        }

        @Override
        public int recordReveals(RecordRevealsRequest request)
        {
            throw new AssertionError("reveal counted");
        }

        @Override
        public String address()
        {
            return "nowhere";
        }
    };

    static VeilFunctionProvider provider()
    {
        return provider("veil", keys("k1:" + K1 + ", k2:" + K2));
    }

    /** A catalog's functions whose reveal has no PDP (and whose reporter thread is not started). */
    static VeilFunctionProvider provider(String catalogName, MaskKeys keys)
    {
        return new VeilFunctionProvider(catalogName, keys, new RevealGrants(NO_PDP), unstartedReporter(NO_PDP));
    }

    /** A reporter with the catalog's settings whose thread is not started: what it counts stays. */
    static RevealReporter unstartedReporter(RevealPdp pdp)
    {
        return new RevealReporter(pdp, "node-1", RevealReporter.INTERVAL, RevealReporter.INITIAL_BACKOFF, RevealReporter.MAX_BACKOFF, RevealReporter.SHUTDOWN_FLUSH, RevealReporter.MAX_KEYS);
    }

    static MethodHandle handle(VeilFunctionProvider provider, FunctionMetadata metadata, InvocationConvention convention)
    {
        ScalarFunctionImplementation implementation = provider.getScalarFunctionImplementation(metadata.getFunctionId(), bound(metadata), null, convention);
        assertTrue(implementation.getInstanceFactory().isEmpty());
        return implementation.getMethodHandle();
    }

    static BoundSignature bound(FunctionMetadata metadata)
    {
        return new BoundSignature(
                new CatalogSchemaFunctionName("veil", "system", metadata.getCanonicalName()),
                type(metadata.getSignature().getReturnType()),
                metadata.getSignature().getArgumentTypes().stream().map(MaskFunctionCalls::type).toList());
    }

    private static Type type(TypeSignature signature)
    {
        return switch (signature.toString()) {
            case "varchar" -> VARCHAR;
            case "double" -> DOUBLE;
            default -> throw new IllegalArgumentException(signature.toString());
        };
    }

    static Slice utf8(String text)
    {
        return Slices.utf8Slice(text);
    }

    static String text(Object slice)
    {
        return slice == null ? null : ((Slice) slice).toStringUtf8();
    }

    /** Neither key, nor its first half, in hex of either case. */
    static void assertNoKeyIn(String message)
    {
        for (String key : List.of(K1, K2)) {
            assertFalse(message.toLowerCase(java.util.Locale.ROOT).contains(key.toLowerCase(java.util.Locale.ROOT).substring(0, 16)), message);
        }
    }
}
