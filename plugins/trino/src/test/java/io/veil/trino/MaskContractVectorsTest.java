package io.veil.trino;

import io.trino.spi.TrinoException;
import io.trino.spi.function.FunctionMetadata;
import org.junit.jupiter.api.Test;

import java.lang.invoke.MethodHandle;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static io.trino.spi.function.InvocationConvention.InvocationArgumentConvention.NEVER_NULL;
import static io.trino.spi.function.InvocationConvention.InvocationReturnConvention.NULLABLE_RETURN;
import static io.trino.spi.function.InvocationConvention.simpleConvention;
import static io.veil.trino.MaskFunctionCalls.K1;
import static io.veil.trino.MaskFunctionCalls.handle;
import static io.veil.trino.MaskFunctionCalls.text;
import static io.veil.trino.MaskFunctionCalls.utf8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * Known answers of the new keyed functions under key {@code k1} = 00 01 02 … 1f: what another
 * implementation of the same contract must give. They were recomputed outside this plugin: the
 * subkeys, {@code encrypt} tokens (associated data {@code "veil/reversible/v1:" + key_id + ":" + policy})
 * and {@code uniform} values with Python's {@code cryptography} (HKDF, AESGCMSIV) and {@code hmac}, the {@code fpe} values with the RustCrypto {@code fpe} crate
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
        // Associated data "veil/reversible/v1:k1:" + policy, UTF-8.
        Map<List<String>, String> expected = Map.of(
                List.of("tokenize-email", ""), "v1:k1:23b62bPCrOzCHYxsKLnldA",
                List.of("tokenize-email", "alice"), "v1:k1:hIToln-FCUnqi5iuEwVKmEMGN56z",
                List.of("tokenize-email", "Zoë 😀"), "v1:k1:qbq3OCEOD_zjq7hd1XiJIrKKtSCokuXGFg",
                List.of("política", ""), "v1:k1:X_ie-z8h8EfYsuCZ2TG4Ew",
                List.of("política", "alice"), "v1:k1:AGHqPeF352dCyFBejQhOpw-KJwlB",
                List.of("política", "Zoë 😀"), "v1:k1:sDYSJyo5LNQZrDtFW4YXhcnMThjyWuYMRA");
        MethodHandle encrypt = handle(provider, ReversibleMaskFunction.ENCRYPT_METADATA, simpleConvention(NULLABLE_RETURN, NEVER_NULL, NEVER_NULL, NEVER_NULL));
        MethodHandle decrypt = handleOf(ReversibleMaskFunction.DECRYPT_METADATA);
        for (Map.Entry<List<String>, String> entry : expected.entrySet()) {
            String policy = entry.getKey().get(0);
            String value = entry.getKey().get(1);
            assertEquals(entry.getValue(), text(encrypt.invoke(utf8("k1"), utf8(policy), utf8(value))), entry.getKey().toString());
            assertEquals(value, text(decrypt.invoke(utf8(policy), utf8(entry.getValue()))));
        }
    }

    @Test
    void aTokenOfOnePolicyDoesNotOpenUnderAnother()
    {
        MethodHandle decrypt = handleOf(ReversibleMaskFunction.DECRYPT_METADATA);
        // alice under tokenize-email, opened as política's, and the reverse.
        for (List<String> wrong : List.of(
                List.of("política", "v1:k1:hIToln-FCUnqi5iuEwVKmEMGN56z"),
                List.of("tokenize-email", "v1:k1:AGHqPeF352dCyFBejQhOpw-KJwlB"),
                // The associated data before policies were part of it.
                List.of("", "v1:k1:rxXfp-k_XDwx9H5qjqYWq4RHuGKP"),
                List.of("tokenize-email", "v1:k1:rxXfp-k_XDwx9H5qjqYWq4RHuGKP"))) {
            TrinoException error = assertThrows(TrinoException.class, () -> decrypt.invoke(utf8(wrong.get(0)), utf8(wrong.get(1))));
            assertEquals(VeilErrorCode.VEIL_MASK_TOKEN_INVALID.toErrorCode(), error.getErrorCode(), wrong.toString());
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
