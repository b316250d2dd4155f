package io.veil.trino;

import io.airlift.slice.Slice;
import io.airlift.slice.Slices;
import io.trino.spi.StandardErrorCode;
import io.trino.spi.TrinoException;
import io.trino.spi.block.Block;
import io.trino.spi.block.BlockBuilder;
import io.trino.spi.function.BoundSignature;
import io.trino.spi.function.CatalogSchemaFunctionName;
import io.trino.spi.function.FunctionId;
import io.trino.spi.function.FunctionNullability;
import io.trino.spi.function.InvocationConvention;
import io.trino.spi.function.ScalarFunctionImplementation;
import org.junit.jupiter.api.Test;

import java.lang.invoke.MethodHandle;
import java.util.List;
import java.util.Map;

import static io.trino.spi.function.InvocationConvention.InvocationArgumentConvention.BLOCK_POSITION;
import static io.trino.spi.function.InvocationConvention.InvocationArgumentConvention.BOXED_NULLABLE;
import static io.trino.spi.function.InvocationConvention.InvocationArgumentConvention.NEVER_NULL;
import static io.trino.spi.function.InvocationConvention.InvocationArgumentConvention.NULL_FLAG;
import static io.trino.spi.function.InvocationConvention.InvocationReturnConvention.FAIL_ON_NULL;
import static io.trino.spi.function.InvocationConvention.InvocationReturnConvention.NULLABLE_RETURN;
import static io.trino.spi.function.InvocationConvention.simpleConvention;
import static io.trino.spi.type.VarcharType.VARCHAR;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code veil.system.hash} called the way Trino calls a connector function: metadata resolved by
 * id, an implementation asked for per calling convention, its method handle invoked with Slices.
 * Expected digests were computed independently with {@code openssl dgst -sha256 -mac HMAC}.
 */
class VeilFunctionProviderTest
{
    private static final String K1 = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    private static final String K2 = "C0FFEEC0FFEEC0FFEEC0FFEEC0FFEEC0FFEEC0FFEEC0FFEEC0FFEEC0FFEEC0FF";
    private static final String K1_ALICE = "6eefad2bed97b6d93ee663d67a44b46016b3d79dcad54ada39b61a1d14874d1b";
    private static final String K2_ALICE = "4a1eb2c68612efb805a81439b6619c841c08e6e8512a1929ee60ef5511fa953f";
    private static final String K1_ZOE = "895eaa5b6ad2cd8a4aadf561368adafa408a261c6abf62b7d2b3de638877e91b";
    private static final String K1_EMPTY = "d38b42096d80f45f826b44a9d5607de72496a415d3f4a1a8c88e3bb9da8dc1cb";

    private static final FunctionId HASH = HashMaskFunction.METADATA.getFunctionId();
    private static final BoundSignature SIGNATURE = new BoundSignature(new CatalogSchemaFunctionName("veil", "system", "hash"), VARCHAR, List.of(VARCHAR, VARCHAR));

    private final VeilFunctionProvider provider = MaskFunctionCalls.provider("veil", keys("k1:" + K1 + ", k2:" + K2));

    private static MaskKeys keys(String text)
    {
        return VeilConfig.fromProperties(Map.of("veil.pdp.address", "pdp:50051", "veil.run-as-user", "veil_admin", "veil.mask.keys", text)).maskKeys();
    }

    private MethodHandle handle(VeilFunctionProvider provider, InvocationConvention convention)
    {
        ScalarFunctionImplementation implementation = provider.getScalarFunctionImplementation(HASH, SIGNATURE, null, convention);
        assertTrue(implementation.getInstanceFactory().isEmpty());
        return implementation.getMethodHandle();
    }

    private static Slice utf8(String text)
    {
        return Slices.utf8Slice(text);
    }

    private static String text(Object slice)
    {
        return ((Slice) slice).toStringUtf8();
    }

    @Test
    void theMetadataIsADeterministicNullOnNullScalar()
    {
        var metadata = HashMaskFunction.METADATA;
        assertEquals("hash", metadata.getCanonicalName());
        assertEquals("varchar", metadata.getSignature().getReturnType().toString());
        assertEquals("[varchar, varchar]", metadata.getSignature().getArgumentTypes().toString());
        assertTrue(metadata.isDeterministic());
        assertEquals(new FunctionNullability(false, List.of(false, false)), metadata.getFunctionNullability());
    }

    @Test
    void neverNullArgumentsFailOnNullReturn()
            throws Throwable
    {
        MethodHandle hash = handle(provider, simpleConvention(FAIL_ON_NULL, NEVER_NULL, NEVER_NULL));
        assertEquals(K1_ALICE, text(hash.invoke(utf8("k1"), utf8("alice"))));
        assertEquals(K2_ALICE, text(hash.invoke(utf8("k2"), utf8("alice"))));
        assertEquals(K1_ZOE, text(hash.invoke(utf8("k1"), utf8("Zoë"))));
        assertEquals(K1_EMPTY, text(hash.invoke(utf8("k1"), utf8(""))));
        // Views into a larger buffer, as a block hands them out: only the slice's own bytes count.
        assertEquals(K1_ALICE, text(hash.invoke(utf8("xk1x").slice(1, 2), utf8("[alice]").slice(1, 5))));
    }

    @Test
    void neverNullArgumentsNullableReturn()
            throws Throwable
    {
        MethodHandle hash = handle(provider, simpleConvention(NULLABLE_RETURN, NEVER_NULL, NEVER_NULL));
        assertEquals(K1_ALICE, text(hash.invoke(utf8("k1"), utf8("alice"))));
    }

    @Test
    void boxedNullableArgumentsGiveNullForNull()
            throws Throwable
    {
        MethodHandle hash = handle(provider, simpleConvention(NULLABLE_RETURN, BOXED_NULLABLE, BOXED_NULLABLE));
        assertEquals(K1_ALICE, text(hash.invoke(utf8("k1"), utf8("alice"))));
        assertNull(hash.invoke(utf8("k1"), (Slice) null));
        assertNull(hash.invoke((Slice) null, utf8("alice")));
        assertNull(hash.invoke((Slice) null, (Slice) null));
        // A null value never reaches the key lookup, even for an unknown key id.
        assertNull(hash.invoke(utf8("k9"), (Slice) null));
    }

    @Test
    void nullFlagArgumentsGiveNullForNull()
            throws Throwable
    {
        MethodHandle hash = handle(provider, simpleConvention(NULLABLE_RETURN, NULL_FLAG, NULL_FLAG));
        assertEquals(K2_ALICE, text(hash.invoke(utf8("k2"), false, utf8("alice"), false)));
        assertNull(hash.invoke(utf8("k2"), false, utf8("alice"), true));
        assertNull(hash.invoke(utf8("k2"), true, utf8("alice"), false));
    }

    @Test
    void blockPositionArgumentsGiveNullForNull()
            throws Throwable
    {
        BlockBuilder ids = VARCHAR.createBlockBuilder(null, 2);
        VARCHAR.writeSlice(ids, utf8("k1"));
        ids.appendNull();
        Block idBlock = ids.build();
        BlockBuilder values = VARCHAR.createBlockBuilder(null, 3);
        values.appendNull();
        VARCHAR.writeSlice(values, utf8("bob"));
        VARCHAR.writeSlice(values, utf8("alice"));
        Block valueBlock = values.build();

        MethodHandle hash = handle(provider, simpleConvention(NULLABLE_RETURN, BLOCK_POSITION, BLOCK_POSITION));
        assertEquals(K1_ALICE, text(hash.invoke(idBlock, 0, valueBlock, 2)));
        assertNull(hash.invoke(idBlock, 0, valueBlock, 0));
        assertNull(hash.invoke(idBlock, 1, valueBlock, 2));
    }

    @Test
    void nullableArgumentsWithANeverNullReturnAreRefused()
    {
        // The null-on-null result cannot be expressed without a nullable return; Trino never asks for it.
        TrinoException error = assertThrows(TrinoException.class, () -> handle(provider, simpleConvention(FAIL_ON_NULL, BOXED_NULLABLE, NEVER_NULL)));
        assertEquals(StandardErrorCode.FUNCTION_IMPLEMENTATION_ERROR.toErrorCode(), error.getErrorCode());
    }

    @Test
    void anUnknownKeyIdFailsTheQueryWithoutShowingAKey()
    {
        for (InvocationConvention convention : List.of(
                simpleConvention(FAIL_ON_NULL, NEVER_NULL, NEVER_NULL),
                simpleConvention(NULLABLE_RETURN, BOXED_NULLABLE, BOXED_NULLABLE))) {
            MethodHandle hash = handle(provider, convention);
            TrinoException error = assertThrows(TrinoException.class, () -> hash.invoke(utf8("k9"), utf8("alice")));
            assertEquals(VeilErrorCode.VEIL_MASK_KEY_UNKNOWN.toErrorCode(), error.getErrorCode());
            assertEquals("Veil: no mask key `k9` is configured in catalog `veil`", error.getMessage());
            assertNoKeyIn(error.getMessage());
        }
        // Ids are case-sensitive.
        MethodHandle hash = handle(provider, simpleConvention(FAIL_ON_NULL, NEVER_NULL, NEVER_NULL));
        assertEquals("Veil: no mask key `K1` is configured in catalog `veil`",
                assertThrows(TrinoException.class, () -> hash.invoke(utf8("K1"), utf8("alice"))).getMessage());
    }

    @Test
    void aMalformedKeyIdIsNotEchoed()
    {
        MethodHandle hash = handle(provider, simpleConvention(FAIL_ON_NULL, NEVER_NULL, NEVER_NULL));
        TrinoException error = assertThrows(TrinoException.class, () -> hash.invoke(utf8("alice's ssn 078-05-1120"), utf8("alice")));
        assertEquals(VeilErrorCode.VEIL_MASK_KEY_UNKNOWN.toErrorCode(), error.getErrorCode());
        assertEquals("Veil: no mask key is configured in catalog `veil` for that key id; ids match [A-Za-z0-9_.-]{1,64}", error.getMessage());
    }

    @Test
    void withoutKeysEveryCallFails()
    {
        MethodHandle hash = handle(MaskFunctionCalls.provider("governed", MaskKeys.none()), simpleConvention(FAIL_ON_NULL, NEVER_NULL, NEVER_NULL));
        TrinoException error = assertThrows(TrinoException.class, () -> hash.invoke(utf8("k1"), utf8("alice")));
        assertEquals(VeilErrorCode.VEIL_MASK_KEY_UNKNOWN.toErrorCode(), error.getErrorCode());
        assertEquals("Veil: no mask key `k1` is configured in catalog `governed`", error.getMessage());
    }

    @Test
    void anUnknownFunctionIdIsRejected()
    {
        assertThrows(IllegalArgumentException.class, () -> provider.getScalarFunctionImplementation(
                new FunctionId("nope"), SIGNATURE, null, simpleConvention(FAIL_ON_NULL, NEVER_NULL, NEVER_NULL)));
    }

    private static void assertNoKeyIn(String message)
    {
        for (String key : List.of(K1, K2)) {
            assertFalse(message.toLowerCase(java.util.Locale.ROOT).contains(key.toLowerCase(java.util.Locale.ROOT).substring(0, 16)), message);
        }
    }
}
