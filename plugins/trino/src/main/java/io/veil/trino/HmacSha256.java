package io.veil.trino;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

import java.security.InvalidKeyException;
import java.security.NoSuchAlgorithmException;

/**
 * HMAC-SHA256 (RFC 2104) under one key, computed by the JDK's {@link Mac}. Safe to share between
 * threads: each thread keeps its own initialized {@code Mac}, so a call (one per row) costs no key
 * setup and no lock. Its {@code toString} is Object's, which shows no key.
 */
final class HmacSha256
{
    static final String ALGORITHM = "HmacSHA256";
    /** Bytes of output. */
    static final int LENGTH = 32;

    private final SecretKeySpec key;
    private final ThreadLocal<Mac> macs;

    /** @param key any non-empty key; length rules for configured keys are {@link MaskKeys}'s */
    HmacSha256(byte[] key)
    {
        // SecretKeySpec copies the key, and rejects an empty one.
        this.key = new SecretKeySpec(key, ALGORITHM);
        // Fails now, not on the first row, if the JDK cannot do HMAC-SHA256 with this key.
        Mac first = newMac();
        this.macs = ThreadLocal.withInitial(this::newMac);
        macs.set(first);
    }

    /** The 32-byte HMAC of {@code length} bytes of {@code data} from {@code offset}. */
    byte[] mac(byte[] data, int offset, int length)
    {
        Mac mac = macs.get();
        try {
            mac.update(data, offset, length);
            // doFinal also resets the Mac for the thread's next call.
            return mac.doFinal();
        }
        catch (RuntimeException e) {
            mac.reset();
            throw e;
        }
    }

    private Mac newMac()
    {
        try {
            Mac mac = Mac.getInstance(ALGORITHM);
            mac.init(key);
            return mac;
        }
        catch (NoSuchAlgorithmException | InvalidKeyException e) {
            throw new IllegalStateException("Veil: the JDK cannot compute " + ALGORITHM, e);
        }
    }
}
