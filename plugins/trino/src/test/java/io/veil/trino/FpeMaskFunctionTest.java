package io.veil.trino;

import io.airlift.slice.Slice;
import io.trino.spi.StandardErrorCode;
import io.trino.spi.TrinoException;
import io.trino.spi.function.FunctionMetadata;
import io.trino.spi.function.FunctionNullability;
import org.junit.jupiter.api.Test;

import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;

import static io.trino.spi.function.InvocationConvention.InvocationArgumentConvention.BOXED_NULLABLE;
import static io.trino.spi.function.InvocationConvention.InvocationArgumentConvention.NEVER_NULL;
import static io.trino.spi.function.InvocationConvention.InvocationArgumentConvention.NULL_FLAG;
import static io.trino.spi.function.InvocationConvention.InvocationReturnConvention.FAIL_ON_NULL;
import static io.trino.spi.function.InvocationConvention.InvocationReturnConvention.NULLABLE_RETURN;
import static io.trino.spi.function.InvocationConvention.simpleConvention;
import static io.veil.trino.MaskFunctionCalls.K1;
import static io.veil.trino.MaskFunctionCalls.assertNoKeyIn;
import static io.veil.trino.MaskFunctionCalls.handle;
import static io.veil.trino.MaskFunctionCalls.text;
import static io.veil.trino.MaskFunctionCalls.utf8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code veil.system.fpe} and {@code fpe_decrypt}, called the way Trino calls them. */
class FpeMaskFunctionTest
{
    private final VeilFunctionProvider provider = MaskFunctionCalls.provider();
    private final MethodHandle fpe = handle(provider, FpeMaskFunction.ENCRYPT_METADATA, simpleConvention(NULLABLE_RETURN, NEVER_NULL, NEVER_NULL));
    private final MethodHandle fpeDecrypt = handle(provider, FpeMaskFunction.DECRYPT_METADATA, simpleConvention(NULLABLE_RETURN, NEVER_NULL, NEVER_NULL));

    private String fpe(String keyId, String value)
            throws Throwable
    {
        return text(fpe.invoke(utf8(keyId), utf8(value)));
    }

    private String fpeDecrypt(String keyId, String value)
            throws Throwable
    {
        return text(fpeDecrypt.invoke(utf8(keyId), utf8(value)));
    }

    /** 'd', 'l', 'u' for an ASCII digit, lowercase or uppercase letter, the code point itself otherwise. */
    private static String shape(String value)
    {
        StringBuilder shape = new StringBuilder();
        value.codePoints().forEach(c -> {
            if (c >= '0' && c <= '9') {
                shape.append('d');
            }
            else if (c >= 'a' && c <= 'z') {
                shape.append('l');
            }
            else if (c >= 'A' && c <= 'Z') {
                shape.append('u');
            }
            else {
                shape.appendCodePoint(c);
            }
        });
        return shape.toString();
    }

    @Test
    void theMetadataIsADeterministicNullableScalar()
    {
        for (FunctionMetadata metadata : List.of(FpeMaskFunction.ENCRYPT_METADATA, FpeMaskFunction.DECRYPT_METADATA)) {
            assertEquals("varchar", metadata.getSignature().getReturnType().toString());
            assertEquals("[varchar, varchar]", metadata.getSignature().getArgumentTypes().toString());
            assertTrue(metadata.isDeterministic());
            assertEquals(new FunctionNullability(true, List.of(false, false)), metadata.getFunctionNullability());
        }
        assertEquals("fpe", FpeMaskFunction.ENCRYPT_METADATA.getCanonicalName());
        assertEquals("fpe_decrypt", FpeMaskFunction.DECRYPT_METADATA.getCanonicalName());
        assertEquals(6, FpeMaskFunction.CharClass.DIGITS.minLength);
        assertEquals(5, FpeMaskFunction.CharClass.LOWER.minLength);
        assertEquals(5, FpeMaskFunction.CharClass.UPPER.minLength);
    }

    @Test
    void separatorsStayAndDigitsChange()
            throws Throwable
    {
        String masked = fpe("k1", "25-989-741-2988");
        assertEquals(15, masked.length());
        assertEquals("dd-ddd-ddd-dddd", shape(masked));
        assertNotEquals("25-989-741-2988", masked);
        assertEquals("25-989-741-2988", fpeDecrypt("k1", masked));
    }

    @Test
    void eachClassKeepsItsPositions()
            throws Throwable
    {
        String value = "AbCdEfGhIj123456";
        String masked = fpe("k1", value);
        assertEquals(shape(value), shape(masked));
        assertNotEquals(value, masked);
        assertEquals(value, fpeDecrypt("k1", masked));

        String mixed = "Order #A1B2C3D4E5f6g7h8i9j0, ok?";
        String maskedMixed = fpe("k1", mixed);
        assertEquals(shape(mixed), shape(maskedMixed));
        assertEquals(mixed, fpeDecrypt("k1", maskedMixed));
    }

    @Test
    void eachClassIsFf1UnderTheFpeSubkeyWithItsOwnTweak()
            throws Throwable
    {
        // The contract, recomputed from its parts: one FF1 numeral string per class, in order.
        byte[] subkey = MaskSubkeys.subkey(HexFormat.of().parseHex(K1), "veil/fpe/v1");
        // Only 4 lowercase letters (b c e f): NULL.
        assertNull(fpe("k1", "Ab-cD 12é3456 efGHI"));

        String value = "Ab-cD 12é3456 efGHIj";
        byte[] digits = Ff1.encrypt(subkey, 10, ascii("digits"), numerals("123456", '0'));
        byte[] lower = Ff1.encrypt(subkey, 26, ascii("lower"), numerals("bcefj", 'a'));
        byte[] upper = Ff1.encrypt(subkey, 26, ascii("upper"), numerals("ADGHI", 'A'));
        String expected = "" + letter(upper, 0, 'A') + letter(lower, 0, 'a') + '-' + letter(lower, 1, 'a') + letter(upper, 1, 'A') + ' '
                + letter(digits, 0, '0') + letter(digits, 1, '0') + 'é' + letter(digits, 2, '0') + letter(digits, 3, '0') + letter(digits, 4, '0') + letter(digits, 5, '0') + ' '
                + letter(lower, 2, 'a') + letter(lower, 3, 'a') + letter(upper, 2, 'A') + letter(upper, 3, 'A') + letter(upper, 4, 'A') + letter(lower, 4, 'a');
        assertEquals(expected, fpe("k1", value));
    }

    private static byte[] ascii(String text)
    {
        return text.getBytes(StandardCharsets.US_ASCII);
    }

    private static byte[] numerals(String text, char first)
    {
        byte[] numerals = new byte[text.length()];
        for (int i = 0; i < numerals.length; i++) {
            numerals[i] = (byte) (text.charAt(i) - first);
        }
        return numerals;
    }

    private static char letter(byte[] numerals, int index, char first)
    {
        return (char) (first + numerals[index]);
    }

    @Test
    void deterministicAndKeyed()
            throws Throwable
    {
        assertEquals(fpe("k1", "4111 1111 1111 1111"), fpe("k1", "4111 1111 1111 1111"));
        assertNotEquals(fpe("k1", "4111 1111 1111 1111"), fpe("k2", "4111 1111 1111 1111"));
        assertNotEquals(fpe("k1", "4111 1111 1111 1111"), fpe("k1", "4111 1111 1111 1112"));
    }

    @Test
    void decryptionUndoesEncryptionForRandomValues()
            throws Throwable
    {
        Random random = new Random(20260512);
        String[] classes = {"0123456789", "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"};
        String others = " -_.@/+:éßü漢";
        int encrypted = 0;
        for (int i = 0; i < 1000; i++) {
            List<String> characters = new java.util.ArrayList<>();
            if (i % 2 == 0) {
                // Each class present or not, and when present long enough.
                int present = 1 + random.nextInt(7);
                for (int c = 0; c < 3; c++) {
                    if ((present & (1 << c)) != 0) {
                        int count = (c == 0 ? 6 : 5) + random.nextInt(30);
                        for (int j = 0; j < count; j++) {
                            characters.add(String.valueOf(classes[c].charAt(random.nextInt(classes[c].length()))));
                        }
                    }
                }
            }
            else {
                // Anything: mostly too short.
                String all = String.join("", classes);
                for (int j = random.nextInt(30); j > 0; j--) {
                    characters.add(String.valueOf(all.charAt(random.nextInt(all.length()))));
                }
            }
            for (int j = random.nextInt(10); j > 0; j--) {
                characters.add(random.nextInt(8) == 0 ? "😀" : String.valueOf(others.charAt(random.nextInt(others.length()))));
            }
            java.util.Collections.shuffle(characters, random);
            String clear = String.join("", characters);
            String masked = fpe("k1", clear);
            assertEquals(masked == null, fpeDecrypt("k1", clear) == null, clear);
            if (masked == null) {
                assertTrue(i % 2 == 1, clear);
                continue;
            }
            encrypted++;
            assertEquals(shape(clear), shape(masked), clear);
            assertEquals(clear, fpeDecrypt("k1", masked), clear);
            // A permutation of each class's domain: decrypting first and encrypting after also round-trips.
            assertEquals(clear, fpe("k1", fpeDecrypt("k1", clear)), clear);
        }
        assertTrue(encrypted >= 500, "only " + encrypted + " random values were encrypted");
    }

    @Test
    void aClassTooShortForFf1GivesNull()
            throws Throwable
    {
        for (String value : List.of("12-34", "12345", "abcd1234567", "abcd", "ABCD", "ABCDE12345", "Zoë 123456", "abcdefgh 123456 ABCD")) {
            assertNull(fpe("k1", value), value);
            assertNull(fpeDecrypt("k1", value), value);
        }
        for (String value : List.of("123456", "abcde", "ABCDE", "abcde-ABCDE-123456")) {
            assertNotNull(fpe("k1", value), value);
            assertNotNull(fpeDecrypt("k1", value), value);
        }
    }

    @Test
    void aValueWithoutLettersOrDigitsGivesNull()
            throws Throwable
    {
        for (String value : List.of("", " ", "--/--", "日本語", "ëëëëëëëë", "😀😀😀😀😀😀")) {
            assertNull(fpe("k1", value), value);
            assertNull(fpeDecrypt("k1", value), value);
        }
    }

    @Test
    void aClassLongerThan4096GivesNull()
            throws Throwable
    {
        String longest = "7".repeat(4096) + "-abcde";
        String masked = fpe("k1", longest);
        assertEquals(shape(longest), shape(masked));
        assertEquals(longest, fpeDecrypt("k1", masked));
        assertNull(fpe("k1", "7".repeat(4097)));
        assertNull(fpe("k1", "a".repeat(4097) + "123456"));
        assertNull(fpeDecrypt("k1", "A".repeat(4097)));
        // Other characters do not count.
        assertNotNull(fpe("k1", "-".repeat(5000) + "123456"));
    }

    @Test
    void nonAsciiStaysWhereItIs()
            throws Throwable
    {
        String value = "zoë straße 123456 münchen 😀";
        String masked = fpe("k1", value);
        assertEquals(value.length(), masked.length());
        assertEquals(shape(value), shape(masked));
        assertNotEquals(value, masked);
        assertEquals(value, fpeDecrypt("k1", masked));
    }

    @Test
    void invalidUtf8BytesAreKeptAsTheyAre()
            throws Throwable
    {
        byte[] bytes = {'1', '2', '3', (byte) 0xFF, '4', '5', '6', (byte) 0xC3};
        Slice masked = (Slice) fpe.invoke(utf8("k1"), io.airlift.slice.Slices.wrappedBuffer(bytes.clone()));
        byte[] out = masked.getBytes();
        assertEquals((byte) 0xFF, out[3]);
        assertEquals((byte) 0xC3, out[7]);
        assertEquals(io.airlift.slice.Slices.wrappedBuffer(bytes), fpeDecrypt.invoke(utf8("k1"), masked));
    }

    @Test
    void slicesIntoALargerBufferUseOnlyTheirOwnBytes()
            throws Throwable
    {
        assertEquals(fpe("k1", "25-989-741-2988"), text(fpe.invoke(utf8("xk1x").slice(1, 2), utf8("9[25-989-741-2988]9").slice(2, 15))));
    }

    @Test
    void nullGivesNull()
            throws Throwable
    {
        for (FunctionMetadata metadata : List.of(FpeMaskFunction.ENCRYPT_METADATA, FpeMaskFunction.DECRYPT_METADATA)) {
            MethodHandle boxed = handle(provider, metadata, simpleConvention(NULLABLE_RETURN, BOXED_NULLABLE, BOXED_NULLABLE));
            assertNotNull(boxed.invoke(utf8("k1"), utf8("123456")));
            assertNull(boxed.invoke(utf8("k1"), (Slice) null));
            assertNull(boxed.invoke((Slice) null, utf8("123456")));
            // A null value never reaches the key lookup.
            assertNull(boxed.invoke(utf8("k9"), (Slice) null));
            MethodHandle flagged = handle(provider, metadata, simpleConvention(NULLABLE_RETURN, NULL_FLAG, NULL_FLAG));
            assertNull(flagged.invoke(utf8("k1"), false, utf8("123456"), true));
        }
    }

    @Test
    void aNeverNullReturnIsRefused()
    {
        // fpe may return NULL for a non-null value, so Trino never asks for this.
        TrinoException error = assertThrows(TrinoException.class, () -> handle(provider, FpeMaskFunction.ENCRYPT_METADATA, simpleConvention(FAIL_ON_NULL, NEVER_NULL, NEVER_NULL)));
        assertEquals(StandardErrorCode.FUNCTION_IMPLEMENTATION_ERROR.toErrorCode(), error.getErrorCode());
    }

    @Test
    void anUnknownKeyIdFailsLikeHash()
    {
        for (MethodHandle function : List.of(fpe, fpeDecrypt)) {
            // Even for a value that would give NULL.
            for (String value : List.of("123456", "12")) {
                TrinoException error = assertThrows(TrinoException.class, () -> function.invoke(utf8("k9"), utf8(value)));
                assertEquals(VeilErrorCode.VEIL_MASK_KEY_UNKNOWN.toErrorCode(), error.getErrorCode());
                assertEquals("Veil: no mask key `k9` is configured in catalog `veil`", error.getMessage());
                assertNoKeyIn(error.getMessage());
            }
            TrinoException malformed = assertThrows(TrinoException.class, () -> function.invoke(utf8("alice's ssn 078-05-1120"), utf8("123456")));
            assertEquals("Veil: no mask key is configured in catalog `veil` for that key id; ids match [A-Za-z0-9_.-]{1,64}", malformed.getMessage());
        }
        MethodHandle none = handle(MaskFunctionCalls.provider("governed", MaskKeys.none()), FpeMaskFunction.ENCRYPT_METADATA, simpleConvention(NULLABLE_RETURN, NEVER_NULL, NEVER_NULL));
        assertEquals("Veil: no mask key `k1` is configured in catalog `governed`",
                assertThrows(TrinoException.class, () -> none.invoke(utf8("k1"), utf8("123456"))).getMessage());
    }
}
