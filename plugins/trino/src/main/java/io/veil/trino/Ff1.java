package io.veil.trino;

import org.bouncycastle.crypto.fpe.FPEFF1Engine;
import org.bouncycastle.crypto.params.FPEParameters;
import org.bouncycastle.crypto.params.KeyParameter;

/**
 * FF1 format-preserving encryption (NIST SP 800-38G, section 5.1) over AES under one key, computed
 * by BouncyCastle's {@link FPEFF1Engine}. A numeral string is a byte per numeral, each in
 * {@code [0, radix)}; the tweak is any bytes, empty allowed. The caller keeps lengths within FF1's
 * domain ({@code radix^length >= 1,000,000}). Safe to share between threads: each thread keeps its
 * own engines. Its {@code toString} is Object's, which shows no key.
 */
final class Ff1
{
    private final KeyParameter key;
    // [0] encrypts, [1] decrypts; re-initialized per call, as radix and tweak vary.
    private final ThreadLocal<FPEFF1Engine[]> engines = ThreadLocal.withInitial(() -> new FPEFF1Engine[] {new FPEFF1Engine(), new FPEFF1Engine()});

    /** @param key an AES key: 16, 24 or 32 bytes */
    Ff1(byte[] key)
    {
        if (key.length != 16 && key.length != 24 && key.length != 32) {
            throw new IllegalArgumentException("FF1 needs an AES key of 16, 24 or 32 bytes, got " + key.length);
        }
        // KeyParameter copies the key.
        this.key = new KeyParameter(key);
        // Fails now, not on the first row, if FF1 is unavailable (BouncyCastle's org.bouncycastle.fpe.disable).
        engines.get();
    }

    /** FF1 of raw key bytes: the path {@link FpeMaskFunction} takes for each character class, for tests. */
    static byte[] encrypt(byte[] key, int radix, byte[] tweak, byte[] numerals)
    {
        return new Ff1(key).encrypt(radix, tweak, numerals);
    }

    /** The inverse of {@link #encrypt(byte[], int, byte[], byte[])}. */
    static byte[] decrypt(byte[] key, int radix, byte[] tweak, byte[] numerals)
    {
        return new Ff1(key).decrypt(radix, tweak, numerals);
    }

    byte[] encrypt(int radix, byte[] tweak, byte[] numerals)
    {
        return process(true, radix, tweak, numerals);
    }

    byte[] decrypt(int radix, byte[] tweak, byte[] numerals)
    {
        return process(false, radix, tweak, numerals);
    }

    private byte[] process(boolean encrypt, int radix, byte[] tweak, byte[] numerals)
    {
        FPEFF1Engine engine = engines.get()[encrypt ? 0 : 1];
        engine.init(encrypt, new FPEParameters(key, radix, tweak));
        byte[] out = new byte[numerals.length];
        engine.processBlock(numerals, 0, numerals.length, out, 0);
        return out;
    }
}
