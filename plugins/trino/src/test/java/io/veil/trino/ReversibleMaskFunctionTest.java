package io.veil.trino;

import io.airlift.slice.Slice;
import io.airlift.slice.Slices;
import io.trino.spi.TrinoException;
import io.trino.spi.function.FunctionNullability;
import org.bouncycastle.crypto.InvalidCipherTextException;
import org.junit.jupiter.api.Test;

import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.regex.Pattern;

import static io.trino.spi.function.InvocationConvention.InvocationArgumentConvention.BOXED_NULLABLE;
import static io.trino.spi.function.InvocationConvention.InvocationArgumentConvention.NEVER_NULL;
import static io.trino.spi.function.InvocationConvention.InvocationReturnConvention.FAIL_ON_NULL;
import static io.trino.spi.function.InvocationConvention.InvocationReturnConvention.NULLABLE_RETURN;
import static io.trino.spi.function.InvocationConvention.simpleConvention;
import static io.veil.trino.MaskFunctionCalls.K1;
import static io.veil.trino.MaskFunctionCalls.K2;
import static io.veil.trino.MaskFunctionCalls.assertNoKeyIn;
import static io.veil.trino.MaskFunctionCalls.handle;
import static io.veil.trino.MaskFunctionCalls.text;
import static io.veil.trino.MaskFunctionCalls.utf8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code veil.system.encrypt} and {@code decrypt}, called the way Trino calls them, and AES-256-GCM-SIV
 * itself against RFC 8452, appendix C.2.
 */
class ReversibleMaskFunctionTest
{
    private static final HexFormat HEX = HexFormat.of();
    private static final Pattern TOKEN = Pattern.compile("v1:k[12]:[A-Za-z0-9_-]+");

    private final VeilFunctionProvider provider = MaskFunctionCalls.provider();
    /** The mask policy most tests make and open tokens of. */
    private static final String POLICY = "tokenize-email";

    private final MethodHandle encrypt = handle(provider, ReversibleMaskFunction.ENCRYPT_METADATA, simpleConvention(FAIL_ON_NULL, NEVER_NULL, NEVER_NULL, NEVER_NULL));
    private final MethodHandle decrypt = handle(provider, ReversibleMaskFunction.DECRYPT_METADATA, simpleConvention(FAIL_ON_NULL, NEVER_NULL, NEVER_NULL));

    private String encrypt(String keyId, String value)
            throws Throwable
    {
        return encrypt(keyId, POLICY, value);
    }

    private String encrypt(String keyId, String policy, String value)
            throws Throwable
    {
        return text(encrypt.invoke(utf8(keyId), utf8(policy), utf8(value)));
    }

    private String decrypt(String token)
            throws Throwable
    {
        return decrypt(POLICY, token);
    }

    private String decrypt(String policy, String token)
            throws Throwable
    {
        return text(decrypt.invoke(utf8(policy), utf8(token)));
    }

    // --- RFC 8452, appendix C.2 (AEAD_AES_256_GCM_SIV): key 01 00..00, nonce 03 00..00

    private static final byte[] RFC_KEY = HEX.parseHex("0100000000000000000000000000000000000000000000000000000000000000");
    private static final byte[] RFC_NONCE = HEX.parseHex("030000000000000000000000");

    private static void rfc8452(String plaintext, String aad, String result)
            throws InvalidCipherTextException
    {
        byte[] sealed = ReversibleMaskFunction.seal(RFC_KEY, RFC_NONCE, HEX.parseHex(aad), HEX.parseHex(plaintext));
        assertEquals(result, HEX.formatHex(sealed));
        assertArrayEquals(HEX.parseHex(plaintext), ReversibleMaskFunction.open(RFC_KEY, RFC_NONCE, HEX.parseHex(aad), sealed));
    }

    @Test
    void rfc8452EmptyPlaintext()
            throws InvalidCipherTextException
    {
        rfc8452("", "", "07f5f4169bbf55a8400cd47ea6fd400f");
    }

    @Test
    void rfc8452EightBytes()
            throws InvalidCipherTextException
    {
        rfc8452("0100000000000000", "", "c2ef328e5c71c83b843122130f7364b761e0b97427e3df28");
    }

    @Test
    void rfc8452ThirtyTwoBytes()
            throws InvalidCipherTextException
    {
        rfc8452("0100000000000000000000000000000002000000000000000000000000000000", "",
                "4a6a9db4c8c6549201b9edb53006cba821ec9cf850948a7c86c68ac7539d027fe819e63abcd020b006a976397632eb5d");
    }

    @Test
    void rfc8452WithAssociatedData()
            throws InvalidCipherTextException
    {
        rfc8452("0200000000000000", "01", "1de22967237a813291213f267e3b452f02d01ae33e4ec854");
    }

    @Test
    void aChangedTagOrAssociatedDataDoesNotOpen()
    {
        byte[] sealed = ReversibleMaskFunction.seal(RFC_KEY, RFC_NONCE, HEX.parseHex("01"), HEX.parseHex("0200000000000000"));
        assertThrows(InvalidCipherTextException.class, () -> ReversibleMaskFunction.open(RFC_KEY, RFC_NONCE, HEX.parseHex("02"), sealed));
        sealed[sealed.length - 1] ^= 1;
        assertThrows(InvalidCipherTextException.class, () -> ReversibleMaskFunction.open(RFC_KEY, RFC_NONCE, HEX.parseHex("01"), sealed));
    }

    // --- the functions

    @Test
    void theMetadataIsADeterministicNullOnNullScalar()
    {
        var encryptMetadata = ReversibleMaskFunction.ENCRYPT_METADATA;
        assertEquals("encrypt", encryptMetadata.getCanonicalName());
        assertEquals("[varchar, varchar, varchar]", encryptMetadata.getSignature().getArgumentTypes().toString());
        assertEquals(new FunctionNullability(false, List.of(false, false, false)), encryptMetadata.getFunctionNullability());
        var decryptMetadata = ReversibleMaskFunction.DECRYPT_METADATA;
        assertEquals("decrypt", decryptMetadata.getCanonicalName());
        assertEquals("varchar", decryptMetadata.getSignature().getReturnType().toString());
        assertEquals("[varchar, varchar]", decryptMetadata.getSignature().getArgumentTypes().toString());
        assertEquals(new FunctionNullability(false, List.of(false, false)), decryptMetadata.getFunctionNullability());
        assertTrue(encryptMetadata.isDeterministic() && decryptMetadata.isDeterministic());
    }

    @Test
    void theTokenIsTheKeyIdAndBase64UrlOfGcmSivUnderTheReversibleSubkeyBoundToThePolicy()
            throws Throwable
    {
        for (String policy : List.of(POLICY, "", "política-ß")) {
            for (String value : List.of("alice", "", "Zoë 😀")) {
                String token = encrypt("k1", policy, value);
                assertTrue(token.startsWith("v1:k1:"), token);
                byte[] plaintext = value.getBytes(StandardCharsets.UTF_8);
                byte[] expected = ReversibleMaskFunction.seal(
                        MaskSubkeys.subkey(HEX.parseHex(K1), "veil/reversible/v1"),
                        new byte[12],
                        ("veil/reversible/v1:k1:" + policy).getBytes(StandardCharsets.UTF_8),
                        plaintext);
                assertEquals(plaintext.length + 16, expected.length);
                assertEquals("v1:k1:" + Base64.getUrlEncoder().withoutPadding().encodeToString(expected), token);
                assertEquals(value, decrypt(policy, token));
            }
        }
        // The empty string: the tag alone, 16 bytes, 22 characters without padding.
        assertEquals("v1:k1:".length() + 22, encrypt("k1", "").length());
    }

    @Test
    void roundTripsManyValues()
            throws Throwable
    {
        Random random = new Random(8452);
        List<String> values = new java.util.ArrayList<>(List.of("", " ", "alice", "078-05-1120", "Zoë", "日本語のテキスト", "😀", "a\u0000b", "x".repeat(10_000)));
        for (int i = 0; i < 300; i++) {
            StringBuilder value = new StringBuilder();
            int length = random.nextInt(60);
            for (int j = 0; j < length; j++) {
                value.appendCodePoint(random.nextInt(4) == 0 ? 0x80 + random.nextInt(0x2000) : 0x20 + random.nextInt(0x5F));
            }
            values.add(value.toString());
        }
        Set<String> tokens = new HashSet<>();
        for (String value : values) {
            for (String keyId : List.of("k1", "k2")) {
                String token = encrypt(keyId, value);
                assertTrue(TOKEN.matcher(token).matches(), token);
                assertEquals(value, decrypt(token));
                tokens.add(token);
            }
        }
        // Different values (and keys) never share a token.
        assertEquals(2 * new HashSet<>(values).size(), tokens.size());
    }

    @Test
    void deterministic()
            throws Throwable
    {
        assertEquals(encrypt("k1", "alice"), encrypt("k1", "alice"));
        assertNotEquals(encrypt("k1", "alice"), encrypt("k1", "alicf"));
        assertNotEquals(encrypt("k1", "alice").substring(6), encrypt("k2", "alice").substring(6));
    }

    @Test
    void aTokenDecryptsUnderTheKeyItNames()
            throws Throwable
    {
        String underK2 = encrypt("k2", "alice");
        assertTrue(underK2.startsWith("v1:k2:"));
        assertEquals("alice", decrypt(underK2));
        // Relabelled as k1's: neither k1's subkey nor k1's associated data opens it.
        assertInvalid("v1:k1:" + underK2.substring(6), "does not verify under mask key `k1` and policy `tokenize-email` of catalog `veil`");
    }

    @Test
    void aTokenOpensOnlyUnderThePolicyItWasMadeFor()
            throws Throwable
    {
        String underA = encrypt("k1", "policy-a", "alice@example.com");
        assertEquals("alice@example.com", decrypt("policy-a", underA));
        // Same key, same value, another policy: another token, and neither opens under the other's policy.
        String underB = encrypt("k1", "policy-b", "alice@example.com");
        assertNotEquals(underA, underB);
        for (String policy : List.of("policy-b", "policy-", "policy-aa", "Policy-a", "", "k1:policy-a")) {
            TrinoException error = assertInvalid(policy, underA, "does not verify under mask key `k1`");
            assertFalse(error.getMessage().contains("alice"), error.getMessage());
        }
        assertTrue(assertInvalid("policy-b", underA, null).getMessage().contains("and policy `policy-b` of catalog `veil`"));
        // A policy that does not look like a name (a value passed by mistake) is not echoed.
        TrinoException error = assertInvalid("alice's ssn 078-05-1120", underA, "and the given policy of catalog `veil`");
        assertFalse(error.getMessage().contains("078-05-1120"), error.getMessage());
        // Key ids hold no `:`, so no key id and policy spell another's associated data.
        assertEquals(VeilErrorCode.VEIL_MASK_KEY_UNKNOWN.toErrorCode(), assertThrows(TrinoException.class, () -> encrypt("k1:policy", "a", "alice")).getErrorCode());
    }

    @Test
    void aTamperedTokenFails()
            throws Throwable
    {
        String token = encrypt("k1", "alice@example.com");
        for (int position = 6; position < token.length(); position++) {
            char c = token.charAt(position);
            String tampered = token.substring(0, position) + (c == 'A' ? 'B' : 'A') + token.substring(position + 1);
            TrinoException error = assertInvalid(tampered, null);
            assertFalse(error.getMessage().contains("alice"), error.getMessage());
        }
    }

    @Test
    void aTruncatedOrExtendedTokenFails()
            throws Throwable
    {
        String token = encrypt("k1", "alice@example.com");
        for (int cut = 1; cut < token.length() - 6; cut++) {
            assertInvalid(token.substring(0, token.length() - cut), null);
        }
        assertInvalid(token + "AAAA", "does not verify");
        assertInvalid("v1:k1:", "shorter than the 16-byte tag");
    }

    @Test
    void badBase64Fails()
            throws Throwable
    {
        String token = encrypt("k1", "alice");
        assertInvalid(token + "=", "not base64url");
        assertInvalid(token.substring(0, 10) + "+" + token.substring(11), "not base64url");
        assertInvalid("v1:k1:!!!!!!!!!!!!!!!!!!!!!!!!", "not base64url");
        assertInvalid("v1:k1:" + Base64.getUrlEncoder().encodeToString(new byte[17]), "not canonical base64url");
        // 22 characters encode 16 bytes and 4 spare bits, which must be zero: one spelling per token.
        String empty = encrypt("k1", "");
        char last = empty.charAt(empty.length() - 1);
        String respelled = empty.substring(0, empty.length() - 1) + (char) (last + 1);
        assertInvalid(respelled, "base64url");
    }

    @Test
    void somethingThatIsNotATokenFailsWithoutBeingEchoed()
    {
        for (String value : List.of("", "078-05-1120", "alice@example.com", "v2:k1:AAAAAAAAAAAAAAAAAAAAAA", "v1k1AAAA", "v1:k1 is 078-05-1120")) {
            TrinoException error = assertInvalid(value, "is not one");
            if (!value.isEmpty()) {
                assertFalse(error.getMessage().contains(value), error.getMessage());
            }
        }
        assertTrue(assertInvalid("v1:k1", "has no `:` after the key id").getMessage().contains("`v1:k1`"));
        // What looks like a token is named by its first 16 characters at most.
        String token = "v1:k1:" + "A".repeat(40);
        TrinoException error = assertInvalid(token, null);
        assertTrue(error.getMessage().contains("`v1:k1:AAAAAAAAAA…`"), error.getMessage());
        assertFalse(error.getMessage().contains("A".repeat(11)), error.getMessage());
    }

    private TrinoException assertInvalid(String token, String part)
    {
        return assertInvalid(POLICY, token, part);
    }

    private TrinoException assertInvalid(String policy, String token, String part)
    {
        TrinoException error = assertThrows(TrinoException.class, () -> decrypt(policy, token));
        assertEquals(VeilErrorCode.VEIL_MASK_TOKEN_INVALID.toErrorCode(), error.getErrorCode(), error.getMessage());
        assertTrue(error.getMessage().startsWith("Veil: "), error.getMessage());
        if (part != null) {
            assertTrue(error.getMessage().contains(part), error.getMessage());
        }
        assertNoKeyIn(error.getMessage());
        assertFalse(token.length() > 16 && error.getMessage().contains(token), error.getMessage());
        return error;
    }

    @Test
    void anUnknownKeyIdFailsLikeHash()
            throws Throwable
    {
        String token = encrypt("k1", "alice");
        for (ThrowingCall call : List.<ThrowingCall>of(
                () -> encrypt("k9", "alice"),
                () -> decrypt("v1:k9:" + token.substring(6)))) {
            TrinoException error = assertThrows(TrinoException.class, call::run);
            assertEquals(VeilErrorCode.VEIL_MASK_KEY_UNKNOWN.toErrorCode(), error.getErrorCode());
            assertEquals("Veil: no mask key `k9` is configured in catalog `veil`", error.getMessage());
        }
        // An id that is not one is not echoed.
        for (ThrowingCall call : List.<ThrowingCall>of(
                () -> encrypt("alice's ssn 078-05-1120", "alice"),
                () -> decrypt("v1:alice's ssn 078-05-1120:" + token.substring(6)),
                () -> decrypt("v1::" + token.substring(6)))) {
            TrinoException error = assertThrows(TrinoException.class, call::run);
            assertEquals(VeilErrorCode.VEIL_MASK_KEY_UNKNOWN.toErrorCode(), error.getErrorCode());
            assertEquals("Veil: no mask key is configured in catalog `veil` for that key id; ids match [A-Za-z0-9_.-]{1,64}", error.getMessage());
        }
        MethodHandle none = handle(MaskFunctionCalls.provider("governed", MaskKeys.none()), ReversibleMaskFunction.DECRYPT_METADATA, simpleConvention(FAIL_ON_NULL, NEVER_NULL, NEVER_NULL));
        assertEquals("Veil: no mask key `k1` is configured in catalog `governed`",
                assertThrows(TrinoException.class, () -> none.invoke(utf8(POLICY), utf8(token))).getMessage());
    }

    private interface ThrowingCall
    {
        void run()
                throws Throwable;
    }

    @Test
    void nullGivesNull()
            throws Throwable
    {
        MethodHandle boxedEncrypt = handle(provider, ReversibleMaskFunction.ENCRYPT_METADATA, simpleConvention(NULLABLE_RETURN, BOXED_NULLABLE, BOXED_NULLABLE, BOXED_NULLABLE));
        assertNull(boxedEncrypt.invoke(utf8("k1"), utf8(POLICY), (Slice) null));
        assertNull(boxedEncrypt.invoke(utf8("k1"), (Slice) null, utf8("alice")));
        assertNull(boxedEncrypt.invoke((Slice) null, utf8(POLICY), utf8("alice")));
        assertNull(boxedEncrypt.invoke(utf8("k9"), utf8(POLICY), (Slice) null));
        MethodHandle boxedDecrypt = handle(provider, ReversibleMaskFunction.DECRYPT_METADATA, simpleConvention(NULLABLE_RETURN, BOXED_NULLABLE, BOXED_NULLABLE));
        assertNull(boxedDecrypt.invoke(utf8(POLICY), (Slice) null));
        assertNull(boxedDecrypt.invoke((Slice) null, utf8(encrypt("k1", "alice"))));
        assertEquals("alice", text(boxedDecrypt.invoke(utf8(POLICY), utf8(encrypt("k1", "alice")))));
    }

    @Test
    void slicesIntoALargerBufferUseOnlyTheirOwnBytes()
            throws Throwable
    {
        String token = encrypt("k1", "alice");
        assertEquals(token, text(encrypt.invoke(utf8("xk1x").slice(1, 2), utf8("[" + POLICY + "]").slice(1, POLICY.length()), utf8("[alice]").slice(1, 5))));
        assertEquals("alice", text(decrypt.invoke(utf8("(" + POLICY + ")").slice(1, POLICY.length()), Slices.utf8Slice("[" + token + "]").slice(1, token.length()))));
    }

    @Test
    void keysAreNeverInTokens()
            throws Throwable
    {
        String token = encrypt("k1", "alice");
        assertNoKeyIn(token);
        assertFalse(token.contains(K2));
    }
}
