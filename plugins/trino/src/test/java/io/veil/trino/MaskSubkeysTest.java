package io.veil.trino;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/** HKDF-SHA256 against RFC 5869's test vectors, and the subkeys the keyed masks use. */
class MaskSubkeysTest
{
    private static final HexFormat HEX = HexFormat.of();

    private static byte[] repeat(int value, int count)
    {
        byte[] bytes = new byte[count];
        Arrays.fill(bytes, (byte) value);
        return bytes;
    }

    @Test
    void rfc5869TestCase1()
    {
        byte[] okm = MaskSubkeys.hkdfSha256(repeat(0x0b, 22), HEX.parseHex("000102030405060708090a0b0c"), HEX.parseHex("f0f1f2f3f4f5f6f7f8f9"), 42);
        assertEquals("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865", HEX.formatHex(okm));
    }

    @Test
    void rfc5869TestCase3NoSaltNoInfo()
    {
        // The subkeys' path: no salt (HashLen zero bytes).
        byte[] okm = MaskSubkeys.hkdfSha256(repeat(0x0b, 22), null, new byte[0], 42);
        assertEquals("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8", HEX.formatHex(okm));
    }

    @Test
    void aSubkeyIsHkdfWithoutSaltOverTheAsciiPurpose()
    {
        byte[] key = HEX.parseHex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
        for (String purpose : new String[] {FpeMaskFunction.INFO, ReversibleMaskFunction.INFO, UniformMaskFunction.INFO}) {
            byte[] subkey = MaskSubkeys.subkey(key, purpose);
            assertEquals(32, subkey.length);
            // RFC 5869 by hand with the JDK's HMAC: PRK = HMAC(32 zero bytes, IKM); OKM = T(1) = HMAC(PRK, info || 0x01).
            byte[] prk = new HmacSha256(new byte[32]).mac(key, 0, key.length);
            byte[] info = (purpose + "\u0001").getBytes(StandardCharsets.US_ASCII);
            assertArrayEquals(new HmacSha256(prk).mac(info, 0, info.length), subkey, purpose);
        }
        assertFalse(Arrays.equals(MaskSubkeys.subkey(key, FpeMaskFunction.INFO), MaskSubkeys.subkey(key, ReversibleMaskFunction.INFO)));
        assertFalse(Arrays.equals(MaskSubkeys.subkey(key, UniformMaskFunction.INFO), MaskSubkeys.subkey(key, ReversibleMaskFunction.INFO)));
    }
}
