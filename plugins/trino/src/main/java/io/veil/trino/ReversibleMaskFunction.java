package io.veil.trino;

import io.airlift.slice.Slice;
import io.airlift.slice.Slices;
import io.trino.spi.TrinoException;
import io.trino.spi.function.FunctionMetadata;
import io.trino.spi.function.InvocationConvention;
import io.trino.spi.function.Signature;
import org.bouncycastle.crypto.InvalidCipherTextException;
import org.bouncycastle.crypto.engines.AESEngine;
import org.bouncycastle.crypto.modes.GCMSIVBlockCipher;
import org.bouncycastle.crypto.params.AEADParameters;
import org.bouncycastle.crypto.params.KeyParameter;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Pattern;

import static io.trino.spi.function.InvocationConvention.InvocationArgumentConvention.NEVER_NULL;
import static io.trino.spi.function.InvocationConvention.InvocationReturnConvention.FAIL_ON_NULL;
import static io.trino.spi.type.VarcharType.VARCHAR;
import static java.lang.invoke.MethodType.methodType;
import static java.util.Objects.requireNonNull;

/**
 * The reversible mask {@code encrypt(key_id varchar, policy varchar, value varchar) -> varchar} and
 * its inverse {@code decrypt(policy varchar, token varchar) -> varchar}, called by the views the PDP
 * compiles as {@code "<catalog>"."system"."encrypt"('k1', '<policy>', CAST(col AS varchar))}, where
 * {@code <policy>} is the name of the mask policy. The same opening serves {@link RevealFunction}.
 *
 * <p>The contract, byte for byte (an independent implementation recomputes it):
 * <ul>
 * <li>AEAD: AES-256-GCM-SIV (RFC 8452), BouncyCastle's {@link GCMSIVBlockCipher} over AES, with
 *     key = {@code HKDF-SHA256(IKM = the key key_id, salt = none, info = "}{@value #INFO}{@code ",
 *     L = 32)} ({@link MaskSubkeys}), nonce = 12 zero bytes, associated data = the UTF-8 bytes of
 *     {@code "veil/reversible/v1:" + key_id + ":" + policy}, the policy's bytes as given (no Unicode
 *     normalization; key ids are ASCII and hold no {@code :}, so the associated data names both
 *     unambiguously), plaintext = the UTF-8 bytes of
 *     value. The ciphertext is as long as the plaintext, followed by GCM-SIV's 16-byte tag.</li>
 * <li>Token: {@code "v1:" + key_id + ":" + base64url(ciphertext || tag)}, base64url being RFC 4648
 *     section 5's alphabet without padding. The policy is not in the token: whoever opens it must
 *     name it.</li>
 * </ul>
 * Deterministic by design (the nonce is fixed): equal values under one key and policy give equal
 * tokens, so masked columns still join and group; RFC 8452 guarantees that reusing a nonce reveals
 * only that equality. The associated data binds a token to its key id and to its policy: a token
 * opens only under the policy it was made for, so a grant to reveal one policy's tokens opens no
 * other's.
 *
 * <p>Opening reads the key id from the token, so a column may hold tokens under several keys (during
 * a rotation). An id the catalog has no key for fails like {@code hash}; a token that is not of this
 * form, is not canonical base64url, or does not verify (altered, truncated, made under another key
 * or another policy) fails the query with {@link VeilErrorCode#VEIL_MASK_TOKEN_INVALID}, naming at
 * most the token's first {@value #ECHOED} characters, the policy only when it looks like a name, and
 * never a key.
 *
 * <p>NULL in gives NULL.
 */
final class ReversibleMaskFunction
{
    static final String ENCRYPT_NAME = "encrypt";
    static final String DECRYPT_NAME = "decrypt";
    /** The HKDF info of the AES-GCM-SIV subkey, and the start of the associated data. */
    static final String INFO = "veil/reversible/v1";
    /** What every token starts with: its format version. */
    static final String PREFIX = "v1:";
    /** Bytes of GCM-SIV's tag. */
    static final int TAG_BYTES = 16;
    /** The most characters of a bad token an error shows. */
    static final int ECHOED = 16;

    /** The most characters of a policy name an error shows, and what they may be. */
    private static final Pattern ECHOED_POLICY = Pattern.compile("[A-Za-z0-9_.:-]{1,128}");

    static final FunctionMetadata ENCRYPT_METADATA = FunctionMetadata.scalarBuilder(ENCRYPT_NAME)
            .signature(Signature.builder()
                    .returnType(VARCHAR)
                    .argumentType(VARCHAR)
                    .argumentType(VARCHAR)
                    .argumentType(VARCHAR)
                    .build())
            .description("Deterministic AES-256-GCM-SIV token v1:key_id:base64url of value (UTF-8) under the catalog's mask key key_id, bound to the mask policy: encrypt(key_id, policy, value)")
            .build();
    static final FunctionMetadata DECRYPT_METADATA = FunctionMetadata.scalarBuilder(DECRYPT_NAME)
            .signature(Signature.builder()
                    .returnType(VARCHAR)
                    .argumentType(VARCHAR)
                    .argumentType(VARCHAR)
                    .build())
            .description("The value an encrypt token of the mask policy holds, verified under the mask key the token names: decrypt(policy, token)")
            .build();
    static final InvocationConvention ENCRYPT_CONVENTION = InvocationConvention.simpleConvention(FAIL_ON_NULL, NEVER_NULL, NEVER_NULL, NEVER_NULL);
    static final InvocationConvention DECRYPT_CONVENTION = InvocationConvention.simpleConvention(FAIL_ON_NULL, NEVER_NULL, NEVER_NULL);

    private static final byte[] NONCE = new byte[12];
    private static final Slice PREFIX_SLICE = Slices.utf8Slice(PREFIX);
    private static final Slice COLON = Slices.utf8Slice(":");
    private static final Base64.Encoder BASE64URL = Base64.getUrlEncoder().withoutPadding();
    private static final Base64.Decoder BASE64URL_DECODER = Base64.getUrlDecoder();
    private static final MethodHandle ENCRYPT;
    private static final MethodHandle DECRYPT;

    static {
        try {
            ENCRYPT = MethodHandles.lookup().findVirtual(ReversibleMaskFunction.class, "encrypt", methodType(Slice.class, Slice.class, Slice.class, Slice.class));
            DECRYPT = MethodHandles.lookup().findVirtual(ReversibleMaskFunction.class, "decrypt", methodType(Slice.class, Slice.class, Slice.class));
        }
        catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** One key's subkey, the start of its associated data and its token prefix; its {@code toString} shows no key. */
    private static final class Sealer
    {
        private final String id;
        private final byte[] subkey;
        /** {@code "veil/reversible/v1:" + key_id + ":"}: the policy's bytes follow. */
        private final byte[] associatedDataStart;
        private final String tokenPrefix;

        Sealer(String id, byte[] key)
        {
            this.id = id;
            this.subkey = MaskSubkeys.subkey(key, INFO);
            this.associatedDataStart = (INFO + ":" + id + ":").getBytes(StandardCharsets.UTF_8);
            this.tokenPrefix = PREFIX + id + ":";
        }

        /** The associated data of this key's tokens of {@code policy}: the start, then the policy's UTF-8 bytes. */
        byte[] associatedData(Slice policy)
        {
            byte[] data = Arrays.copyOf(associatedDataStart, associatedDataStart.length + policy.length());
            policy.getBytes(0, data, associatedDataStart.length, policy.length());
            return data;
        }
    }

    private final String catalogName;
    private final Map<Slice, Sealer> sealers;

    ReversibleMaskFunction(String catalogName, MaskKeys keys)
    {
        this.catalogName = requireNonNull(catalogName, "catalogName is null");
        Map<Slice, Sealer> sealers = new HashMap<>();
        for (String id : keys.ids()) {
            sealers.put(Slices.utf8Slice(id), new Sealer(id, keys.key(id).orElseThrow()));
        }
        this.sealers = Map.copyOf(sealers);
    }

    /** {@link #encrypt} bound to this catalog's keys, in {@link #ENCRYPT_CONVENTION}. */
    MethodHandle encryptHandle()
    {
        return ENCRYPT.bindTo(this);
    }

    /** {@link #decrypt} bound to this catalog's keys, in {@link #DECRYPT_CONVENTION}. */
    MethodHandle decryptHandle()
    {
        return DECRYPT.bindTo(this);
    }

    Slice encrypt(Slice keyId, Slice policy, Slice value)
    {
        Sealer sealer = sealers.get(keyId);
        if (sealer == null) {
            throw KeyedMasks.unknownKey(catalogName, keyId);
        }
        byte[] sealed = seal(sealer.subkey, NONCE, sealer.associatedData(policy), value.getBytes());
        return Slices.utf8Slice(sealer.tokenPrefix + BASE64URL.encodeToString(sealed));
    }

    Slice decrypt(Slice policy, Slice token)
    {
        return open(DECRYPT_NAME, policy, token);
    }

    /**
     * The value a token of {@code policy} holds, for {@code decrypt} and {@code reveal}: the
     * function named in errors.
     */
    Slice open(String function, Slice policy, Slice token)
    {
        int length = token.length();
        if (length < PREFIX.length() || !token.slice(0, PREFIX.length()).equals(PREFIX_SLICE)) {
            throw malformed(function, token, "it does not start with `%s`".formatted(PREFIX));
        }
        int colon = token.indexOf(COLON, PREFIX.length());
        if (colon < 0) {
            throw malformed(function, token, "it has no `:` after the key id");
        }
        Slice keyId = token.slice(PREFIX.length(), colon - PREFIX.length());
        Sealer sealer = sealers.get(keyId);
        if (sealer == null) {
            throw KeyedMasks.unknownKey(catalogName, keyId);
        }
        String encoded = token.slice(colon + 1, length - colon - 1).toStringUtf8();
        byte[] sealed;
        try {
            sealed = BASE64URL_DECODER.decode(encoded);
        }
        catch (IllegalArgumentException e) {
            throw malformed(function, token, "its ciphertext is not base64url");
        }
        // One spelling per token: no padding, no other alphabet, no stray trailing bits.
        if (!BASE64URL.encodeToString(sealed).equals(encoded)) {
            throw malformed(function, token, "its ciphertext is not canonical base64url without padding");
        }
        if (sealed.length < TAG_BYTES) {
            throw malformed(function, token, "its ciphertext is shorter than the %d-byte tag".formatted(TAG_BYTES));
        }
        try {
            return Slices.wrappedBuffer(open(sealer.subkey, NONCE, sealer.associatedData(policy), sealed));
        }
        catch (InvalidCipherTextException e) {
            throw new TrinoException(VeilErrorCode.VEIL_MASK_TOKEN_INVALID,
                    "Veil: the token %s does not verify under mask key `%s` and %s of catalog `%s`: it was altered or truncated, or not made by encrypt with that key and policy".formatted(
                            echo(token), sealer.id, policyName(policy), catalogName));
        }
    }

    private static TrinoException malformed(String function, Slice token, String reason)
    {
        return new TrinoException(VeilErrorCode.VEIL_MASK_TOKEN_INVALID,
                "Veil: %s needs a token %s<key id>:<base64url> as encrypt makes it, and %s is not one: %s".formatted(function, PREFIX, echo(token), reason));
    }

    /** The policy as an error names it: only when it looks like a name, so a value passed by mistake is not copied. */
    private static String policyName(Slice policy)
    {
        String name = policy.toStringUtf8();
        return ECHOED_POLICY.matcher(name).matches() ? "policy `" + name + "`" : "the given policy";
    }

    /**
     * At most the first {@value #ECHOED} characters of a token, and only when they could all be part
     * of one: a clear value passed by mistake is not copied into the error.
     */
    private static String echo(Slice token)
    {
        String text = token.toStringUtf8();
        String start = text.length() > ECHOED ? text.substring(0, ECHOED) : text;
        if (!text.startsWith(PREFIX) || !start.chars().allMatch(c -> c < 0x80 && (Character.isLetterOrDigit(c) || c == ':' || c == '-' || c == '_' || c == '.'))) {
            return "the value";
        }
        return "`" + start + (text.length() > ECHOED ? "…`" : "`");
    }

    /** AES-GCM-SIV (RFC 8452) encryption: ciphertext followed by the 16-byte tag. */
    static byte[] seal(byte[] key, byte[] nonce, byte[] associatedData, byte[] plaintext)
    {
        GCMSIVBlockCipher cipher = cipher(true, key, nonce, associatedData);
        byte[] out = new byte[cipher.getOutputSize(plaintext.length)];
        int written = cipher.processBytes(plaintext, 0, plaintext.length, out, 0);
        try {
            written += cipher.doFinal(out, written);
        }
        catch (InvalidCipherTextException e) {
            // Encryption verifies nothing.
            throw new IllegalStateException(e);
        }
        return written == out.length ? out : Arrays.copyOf(out, written);
    }

    /** AES-GCM-SIV (RFC 8452) decryption of ciphertext followed by its tag; fails unless the tag verifies. */
    static byte[] open(byte[] key, byte[] nonce, byte[] associatedData, byte[] sealed)
            throws InvalidCipherTextException
    {
        GCMSIVBlockCipher cipher = cipher(false, key, nonce, associatedData);
        byte[] out = new byte[cipher.getOutputSize(sealed.length)];
        int written = cipher.processBytes(sealed, 0, sealed.length, out, 0);
        written += cipher.doFinal(out, written);
        return written == out.length ? out : Arrays.copyOf(out, written);
    }

    private static GCMSIVBlockCipher cipher(boolean encrypt, byte[] key, byte[] nonce, byte[] associatedData)
    {
        // A new cipher per value: GCM-SIV derives its record keys from key and nonce at init, and
        // a fresh object carries nothing over from a failed decryption.
        GCMSIVBlockCipher cipher = new GCMSIVBlockCipher(AESEngine.newInstance());
        cipher.init(encrypt, new AEADParameters(new KeyParameter(key), 8 * TAG_BYTES, nonce, associatedData));
        return cipher;
    }
}
