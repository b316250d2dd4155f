package io.veil.trino;

import io.trino.spi.function.FunctionMetadata;
import org.junit.jupiter.api.Test;

import java.lang.invoke.MethodHandle;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;

import static io.trino.spi.function.InvocationConvention.InvocationArgumentConvention.NEVER_NULL;
import static io.trino.spi.function.InvocationConvention.InvocationReturnConvention.NULLABLE_RETURN;
import static io.trino.spi.function.InvocationConvention.simpleConvention;
import static io.veil.trino.MaskFunctionCalls.K1;
import static io.veil.trino.MaskFunctionCalls.handle;
import static io.veil.trino.MaskFunctionCalls.text;
import static io.veil.trino.MaskFunctionCalls.utf8;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Known answers of the new keyed functions under key {@code k1} = 00 01 02 … 1f: what another
 * implementation of the same contract must give. They were recomputed outside this plugin: the
 * subkeys, {@code encrypt} tokens and {@code uniform} values with Python's {@code cryptography}
 * (HKDF, AESGCMSIV) and {@code hmac}, the {@code fpe} values with the RustCrypto {@code fpe} crate
 * (FF1 over AES-256) splitting the value into the same three classes.
 */
class MaskContractVectorsTest
{
    private final VeilFunctionProvider provider = MaskFunctionCalls.provider();

    private MethodHandle handleOf(FunctionMetadata metadata)
    {
        return handle(provider, metadata, simpleConvention(NULLABLE_RETURN, NEVER_NULL, NEVER_NULL));
    }

    @Test
    void subkeys()
    {
        byte[] key = HexFormat.of().parseHex(K1);
        assertEquals("2515b8f402688274c608949b72bb49f9592f9f76c153f96cc5a6fca3ed6fa871", HexFormat.of().formatHex(MaskSubkeys.subkey(key, "veil/fpe/v1")));
        assertEquals("f24463f0f421c623995ea80d6ef614085fa5ed6a67c9fc399deea4db7b89b39c", HexFormat.of().formatHex(MaskSubkeys.subkey(key, "veil/reversible/v1")));
        assertEquals("248fdfa09ccba6f312a1ee5584492f562bbce8647e725918c651921aa6a96ec9", HexFormat.of().formatHex(MaskSubkeys.subkey(key, "veil/uniform/v1")));
    }

    @Test
    void fpe()
            throws Throwable
    {
        Map<String, String> expected = new LinkedHashMap<>();
        expected.put("25-989-741-2988", "61-590-285-2610");
        expected.put("AbCdEfGhIj123456", "MiJlOcTaGe628369");
        expected.put("zoë straße 123456 münchen", "ukë yrixßa 628369 süokvfm");
        expected.put("4111 1111 1111 1111", "2037 2468 6627 8855");
        // Two uppercase letters only.
        expected.put("Hello World 2026-05-12", null);
        MethodHandle fpe = handleOf(FpeMaskFunction.ENCRYPT_METADATA);
        MethodHandle fpeDecrypt = handleOf(FpeMaskFunction.DECRYPT_METADATA);
        for (Map.Entry<String, String> entry : expected.entrySet()) {
            assertEquals(entry.getValue(), text(fpe.invoke(utf8("k1"), utf8(entry.getKey()))), entry.getKey());
            if (entry.getValue() != null) {
                assertEquals(entry.getKey(), text(fpeDecrypt.invoke(utf8("k1"), utf8(entry.getValue()))), entry.getValue());
            }
        }
    }

    @Test
    void encrypt()
            throws Throwable
    {
        Map<String, String> expected = Map.of(
                "", "v1:k1:EU2ZCclk8rtIxukt4tvR9g",
                "alice", "v1:k1:rxXfp-k_XDwx9H5qjqYWq4RHuGKP",
                "Zoë 😀", "v1:k1:2L-RLZ7a6NWL7iL3FNlC526rQ_wpGVpvNg");
        MethodHandle encrypt = handleOf(ReversibleMaskFunction.ENCRYPT_METADATA);
        MethodHandle decrypt = handle(provider, ReversibleMaskFunction.DECRYPT_METADATA, simpleConvention(NULLABLE_RETURN, NEVER_NULL));
        for (Map.Entry<String, String> entry : expected.entrySet()) {
            assertEquals(entry.getValue(), text(encrypt.invoke(utf8("k1"), utf8(entry.getKey()))));
            assertEquals(entry.getKey(), text(decrypt.invoke(utf8(entry.getValue()))));
        }
    }

    @Test
    void uniform()
            throws Throwable
    {
        MethodHandle uniform = handleOf(UniformMaskFunction.METADATA);
        assertEquals(0.560595499560844, (Double) uniform.invoke(utf8("k1"), utf8("")));
        assertEquals(0.7428505233859701, (Double) uniform.invoke(utf8("k1"), utf8("alice")));
        assertEquals(0.7960102072804283, (Double) uniform.invoke(utf8("k1"), utf8("42")));
    }
}
