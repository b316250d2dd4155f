package io.veil.trino;

import org.bouncycastle.crypto.digests.SHA256Digest;
import org.bouncycastle.crypto.generators.HKDFBytesGenerator;
import org.bouncycastle.crypto.params.HKDFParameters;

import java.nio.charset.StandardCharsets;

import static java.util.Objects.requireNonNull;

/**
 * Per-purpose subkeys of a configured mask key, so that no two mask methods ever use the same key
 * for different algorithms: HKDF-SHA256 (RFC 5869), computed by BouncyCastle's
 * {@link HKDFBytesGenerator}, with
 * <ul>
 * <li>IKM = the configured key bytes ({@code veil.mask.keys});</li>
 * <li>salt = none, which RFC 5869 section 2.2 defines as 32 zero bytes (HashLen of SHA-256);</li>
 * <li>info = the ASCII bytes of the purpose, e.g. {@value FpeMaskFunction#INFO},
 *     {@value ReversibleMaskFunction#INFO}, {@value UniformMaskFunction#INFO};</li>
 * <li>L = {@value #LENGTH} bytes.</li>
 * </ul>
 * The {@code hash} mask is older than this and keys its HMAC with the configured key itself.
 * Subkeys are derived once per key when the catalog's key ring loads, never per row.
 */
final class MaskSubkeys
{
    /** Bytes of every subkey: an AES-256 key, and the HMAC-SHA256 key length RFC 2104 recommends. */
    static final int LENGTH = 32;

    private MaskSubkeys() {}

    /** The {@value #LENGTH}-byte subkey of {@code key} for {@code purpose} (ASCII). */
    static byte[] subkey(byte[] key, String purpose)
    {
        requireNonNull(purpose, "purpose is null");
        return hkdfSha256(key, null, purpose.getBytes(StandardCharsets.US_ASCII), LENGTH);
    }

    /** HKDF-SHA256 extract-then-expand; a null salt is RFC 5869's default (HashLen zero bytes). */
    static byte[] hkdfSha256(byte[] ikm, byte[] salt, byte[] info, int length)
    {
        requireNonNull(ikm, "ikm is null");
        requireNonNull(info, "info is null");
        HKDFBytesGenerator hkdf = new HKDFBytesGenerator(SHA256Digest.newInstance());
        hkdf.init(new HKDFParameters(ikm, salt, info));
        byte[] okm = new byte[length];
        hkdf.generateBytes(okm, 0, length);
        return okm;
    }
}
