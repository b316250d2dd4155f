package io.veil.trino;

import io.airlift.slice.Slice;
import io.airlift.slice.Slices;
import io.trino.spi.function.FunctionMetadata;
import io.trino.spi.function.InvocationConvention;
import io.trino.spi.function.Signature;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.nio.charset.StandardCharsets;
import java.util.Map;

import static io.trino.spi.function.InvocationConvention.InvocationArgumentConvention.NEVER_NULL;
import static io.trino.spi.function.InvocationConvention.InvocationReturnConvention.NULLABLE_RETURN;
import static io.trino.spi.type.VarcharType.VARCHAR;
import static java.lang.invoke.MethodType.methodType;
import static java.util.Objects.requireNonNull;

/**
 * The format-preserving mask {@code fpe(key_id varchar, value varchar) -> varchar} and its inverse
 * {@code fpe_decrypt(key_id varchar, value varchar) -> varchar}, called by the views the PDP compiles
 * as {@code "<catalog>"."system"."fpe"('k1', CAST(col AS varchar))}.
 *
 * <p>The contract, byte for byte (an independent implementation recomputes it):
 * <ol>
 * <li>Key: FF1 (NIST SP 800-38G) over AES-256 with the subkey {@code HKDF-SHA256(IKM = the key
 *     key_id, salt = none, info = "}{@value #INFO}{@code ", L = 32)} ({@link MaskSubkeys}).</li>
 * <li>The value is read per code point; only ASCII letters and digits are encrypted, in three
 *     classes: digits {@code 0-9} (radix 10, numeral = c - '0'), lowercase {@code a-z} (radix 26,
 *     numeral = c - 'a'), uppercase {@code A-Z} (radix 26, numeral = c - 'A').</li>
 * <li>For each class present, the subsequence of its characters, in order, is one numeral string,
 *     FF1-encrypted (or decrypted) with that radix and tweak = the ASCII bytes of {@code digits},
 *     {@code lower} or {@code upper}; the resulting numerals go back to the same positions as
 *     characters of the same class. Every other character (separators, spaces, punctuation,
 *     non-ASCII) is kept where and what it is. So length and character classes are kept:
 *     {@code 25-989-741-2988} stays {@code dd-ddd-ddd-dddd}.</li>
 * <li>NULL, never the clear value or a weak encryption, when any class present has fewer
 *     characters than FF1's domain needs ({@code radix^n >= 1,000,000}: 6 digits, 5 lowercase,
 *     5 uppercase letters) or more than {@value #MAX_CLASS_LENGTH}, and when the value has no ASCII
 *     letter or digit at all (the empty string included).</li>
 * </ol>
 * The function works on the UTF-8 bytes directly: a byte below 0x80 is exactly an ASCII code point
 * and every byte of a multi-byte code point is 0x80 or above, so this is the per-code-point rule.
 *
 * <p>NULL in either argument gives NULL; an id the catalog has no key for fails the query, as for
 * {@code hash}, even where the value would give NULL.
 */
final class FpeMaskFunction
{
    static final String ENCRYPT_NAME = "fpe";
    static final String DECRYPT_NAME = "fpe_decrypt";
    /** The HKDF info of the FF1 subkey. */
    static final String INFO = "veil/fpe/v1";
    /** The most characters of one class that are encrypted; a longer class gives NULL. */
    static final int MAX_CLASS_LENGTH = 4096;

    static final FunctionMetadata ENCRYPT_METADATA = metadata(ENCRYPT_NAME,
            "Format-preserving FF1 encryption of value's ASCII digits, lowercase and uppercase letters under the catalog's mask key key_id; NULL for a value too short to encrypt: fpe(key_id, value)");
    static final FunctionMetadata DECRYPT_METADATA = metadata(DECRYPT_NAME,
            "The inverse of fpe: fpe_decrypt(key_id, fpe(key_id, value)) = value");
    /** How {@link #encrypt} and {@link #decrypt} themselves are called; a too-short value returns null. */
    static final InvocationConvention CONVENTION = InvocationConvention.simpleConvention(NULLABLE_RETURN, NEVER_NULL, NEVER_NULL);

    /** One class of characters encrypted together. */
    enum CharClass
    {
        DIGITS('0', 10, "digits"),
        LOWER('a', 26, "lower"),
        UPPER('A', 26, "upper");

        final byte first;
        final int radix;
        final byte[] tweak;
        /** The shortest length FF1 accepts for this radix: the least n with radix^n >= 1,000,000. */
        final int minLength;

        CharClass(char first, int radix, String tweak)
        {
            this.first = (byte) first;
            this.radix = radix;
            this.tweak = tweak.getBytes(StandardCharsets.US_ASCII);
            int length = 0;
            for (long domain = 1; domain < 1_000_000; domain *= radix) {
                length++;
            }
            this.minLength = length;
        }

        /** The class of a UTF-8 byte, or null for a byte that is kept. */
        static CharClass of(byte b)
        {
            if (b >= '0' && b <= '9') {
                return DIGITS;
            }
            if (b >= 'a' && b <= 'z') {
                return LOWER;
            }
            if (b >= 'A' && b <= 'Z') {
                return UPPER;
            }
            return null;
        }
    }

    private static final CharClass[] CLASSES = CharClass.values();
    private static final MethodHandle ENCRYPT;
    private static final MethodHandle DECRYPT;

    static {
        try {
            ENCRYPT = MethodHandles.lookup().findVirtual(FpeMaskFunction.class, "encrypt", methodType(Slice.class, Slice.class, Slice.class));
            DECRYPT = MethodHandles.lookup().findVirtual(FpeMaskFunction.class, "decrypt", methodType(Slice.class, Slice.class, Slice.class));
        }
        catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final String catalogName;
    private final Map<Slice, Ff1> ciphers;

    FpeMaskFunction(String catalogName, MaskKeys keys)
    {
        this.catalogName = requireNonNull(catalogName, "catalogName is null");
        this.ciphers = KeyedMasks.byKeyId(keys, key -> new Ff1(MaskSubkeys.subkey(key, INFO)));
    }

    private static FunctionMetadata metadata(String name, String description)
    {
        return FunctionMetadata.scalarBuilder(name)
                .signature(Signature.builder()
                        .returnType(VARCHAR)
                        .argumentType(VARCHAR)
                        .argumentType(VARCHAR)
                        .build())
                .nullable()
                .description(description)
                .build();
    }

    /** {@link #encrypt} bound to this catalog's keys, in {@link #CONVENTION}. */
    MethodHandle encryptHandle()
    {
        return ENCRYPT.bindTo(this);
    }

    /** {@link #decrypt} bound to this catalog's keys, in {@link #CONVENTION}. */
    MethodHandle decryptHandle()
    {
        return DECRYPT.bindTo(this);
    }

    Slice encrypt(Slice keyId, Slice value)
    {
        return transform(keyId, value, true);
    }

    Slice decrypt(Slice keyId, Slice value)
    {
        return transform(keyId, value, false);
    }

    private Slice transform(Slice keyId, Slice value, boolean encrypt)
    {
        Ff1 ff1 = ciphers.get(keyId);
        if (ff1 == null) {
            throw KeyedMasks.unknownKey(catalogName, keyId);
        }
        byte[] text = value.getBytes();
        int[] counts = new int[CLASSES.length];
        for (byte b : text) {
            CharClass charClass = CharClass.of(b);
            if (charClass != null) {
                counts[charClass.ordinal()]++;
            }
        }
        boolean any = false;
        for (CharClass charClass : CLASSES) {
            int count = counts[charClass.ordinal()];
            if (count == 0) {
                continue;
            }
            if (count < charClass.minLength || count > MAX_CLASS_LENGTH) {
                return null;
            }
            any = true;
        }
        if (!any) {
            return null;
        }
        for (CharClass charClass : CLASSES) {
            int count = counts[charClass.ordinal()];
            if (count == 0) {
                continue;
            }
            byte[] numerals = new byte[count];
            int next = 0;
            for (byte b : text) {
                if (CharClass.of(b) == charClass) {
                    numerals[next++] = (byte) (b - charClass.first);
                }
            }
            byte[] result = encrypt
                    ? ff1.encrypt(charClass.radix, charClass.tweak, numerals)
                    : ff1.decrypt(charClass.radix, charClass.tweak, numerals);
            next = 0;
            for (int i = 0; i < text.length; i++) {
                if (CharClass.of(text[i]) == charClass) {
                    text[i] = (byte) (charClass.first + result[next++]);
                }
            }
        }
        return Slices.wrappedBuffer(text);
    }
}
