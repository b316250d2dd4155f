package io.veil.trino;

import io.airlift.slice.Slice;
import io.trino.spi.TrinoException;
import io.trino.spi.function.FunctionNullability;
import org.junit.jupiter.api.Test;

import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;

import static io.trino.spi.function.InvocationConvention.InvocationArgumentConvention.BOXED_NULLABLE;
import static io.trino.spi.function.InvocationConvention.InvocationArgumentConvention.NEVER_NULL;
import static io.trino.spi.function.InvocationConvention.InvocationReturnConvention.FAIL_ON_NULL;
import static io.trino.spi.function.InvocationConvention.InvocationReturnConvention.NULLABLE_RETURN;
import static io.trino.spi.function.InvocationConvention.simpleConvention;
import static io.veil.trino.MaskFunctionCalls.K1;
import static io.veil.trino.MaskFunctionCalls.handle;
import static io.veil.trino.MaskFunctionCalls.utf8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code veil.system.uniform}, called the way Trino calls it. */
class UniformMaskFunctionTest
{
    private final VeilFunctionProvider provider = MaskFunctionCalls.provider();
    private final MethodHandle uniform = handle(provider, UniformMaskFunction.METADATA, simpleConvention(FAIL_ON_NULL, NEVER_NULL, NEVER_NULL));

    private double uniform(String keyId, String seed)
            throws Throwable
    {
        return (double) uniform.invoke(utf8(keyId), utf8(seed));
    }

    @Test
    void theMetadataIsADeterministicNullOnNullScalar()
    {
        var metadata = UniformMaskFunction.METADATA;
        assertEquals("uniform", metadata.getCanonicalName());
        assertEquals("double", metadata.getSignature().getReturnType().toString());
        assertEquals("[varchar, varchar]", metadata.getSignature().getArgumentTypes().toString());
        assertTrue(metadata.isDeterministic());
        assertEquals(new FunctionNullability(false, List.of(false, false)), metadata.getFunctionNullability());
    }

    @Test
    void inTheUnitIntervalAndDeterministic()
            throws Throwable
    {
        for (int i = 0; i < 1000; i++) {
            double value = uniform("k1", "seed-" + i);
            assertTrue(value >= 0 && value < 1, Double.toString(value));
            assertEquals(value, uniform("k1", "seed-" + i));
        }
        assertNotEquals(uniform("k1", "alice"), uniform("k2", "alice"));
        assertNotEquals(uniform("k1", "alice"), uniform("k1", "alicf"));
    }

    @Test
    void theMeanOf20000SeedsIsAboutAHalf()
            throws Throwable
    {
        double sum = 0;
        int n = 20_000;
        for (int i = 0; i < n; i++) {
            sum += uniform("k1", Integer.toString(i));
        }
        double mean = sum / n;
        assertTrue(Math.abs(mean - 0.5) <= 0.02, Double.toString(mean));
    }

    @Test
    void itIsTheHmacUnderTheUniformSubkeyAsA53BitFraction()
            throws Throwable
    {
        byte[] subkey = MaskSubkeys.subkey(HexFormat.of().parseHex(K1), "veil/uniform/v1");
        byte[] seed = "Zoë".getBytes(StandardCharsets.UTF_8);
        byte[] mac = new HmacSha256(subkey).mac(seed, 0, seed.length);
        long top = new java.math.BigInteger(1, Arrays.copyOf(mac, 8)).shiftRight(11).longValueExact();
        assertEquals(top / Math.pow(2, 53), uniform("k1", "Zoë"));
    }

    @Test
    void theFractionTakesTheFirstEightBytesBigEndian()
    {
        byte[] mac = new byte[32];
        assertEquals(0.0, UniformMaskFunction.toUnitInterval(mac));
        mac[0] = (byte) 0x80;
        assertEquals(0.5, UniformMaskFunction.toUnitInterval(mac));
        Arrays.fill(mac, (byte) 0xFF);
        assertEquals(1 - 0x1.0p-53, UniformMaskFunction.toUnitInterval(mac));
        assertTrue(UniformMaskFunction.toUnitInterval(mac) < 1);
        mac = new byte[32];
        // Bit 11 of the first 8 bytes is the lowest that counts.
        mac[6] = 0x08;
        assertEquals(0x1.0p-53, UniformMaskFunction.toUnitInterval(mac));
        mac[6] = 0x07;
        Arrays.fill(mac, 7, 32, (byte) 0xFF);
        assertEquals(0.0, UniformMaskFunction.toUnitInterval(mac));
    }

    @Test
    void nullGivesNull()
            throws Throwable
    {
        MethodHandle boxed = handle(provider, UniformMaskFunction.METADATA, simpleConvention(NULLABLE_RETURN, BOXED_NULLABLE, BOXED_NULLABLE));
        assertEquals(uniform("k1", "alice"), (Double) boxed.invoke(utf8("k1"), utf8("alice")));
        assertNull(boxed.invoke(utf8("k1"), (Slice) null));
        assertNull(boxed.invoke((Slice) null, utf8("alice")));
        assertNull(boxed.invoke(utf8("k9"), (Slice) null));
    }

    @Test
    void anUnknownKeyIdFailsLikeHash()
    {
        TrinoException error = assertThrows(TrinoException.class, () -> uniform("k9", "alice"));
        assertEquals(VeilErrorCode.VEIL_MASK_KEY_UNKNOWN.toErrorCode(), error.getErrorCode());
        assertEquals("Veil: no mask key `k9` is configured in catalog `veil`", error.getMessage());
        MaskFunctionCalls.assertNoKeyIn(error.getMessage());
    }
}
