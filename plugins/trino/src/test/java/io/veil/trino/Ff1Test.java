package io.veil.trino;

import org.junit.jupiter.api.Test;

import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * FF1 against the sample vectors NIST published for SP 800-38G (FF1 samples 1 to 9: AES-128, -192 and
 * -256, radix 10 with and without a tweak, radix 36 with one), through {@link Ff1}, the path
 * {@link FpeMaskFunction} takes for each character class; and decryption back.
 */
class Ff1Test
{
    private static final String AES128 = "2B7E151628AED2A6ABF7158809CF4F3C";
    private static final String AES192 = "2B7E151628AED2A6ABF7158809CF4F3CEF4359D8D580AA4F";
    private static final String AES256 = "2B7E151628AED2A6ABF7158809CF4F3CEF4359D8D580AA4F7F036D6F04FC6A94";
    private static final String NO_TWEAK = "";
    private static final String TWEAK_10 = "39383736353433323130";
    private static final String TWEAK_11 = "3737373770717273373737";
    private static final String DIGITS = "0123456789";
    private static final String BASE36 = "0123456789abcdefghi";

    private static final String ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz";

    private static byte[] numerals(String text)
    {
        byte[] numerals = new byte[text.length()];
        for (int i = 0; i < numerals.length; i++) {
            numerals[i] = (byte) ALPHABET.indexOf(text.charAt(i));
        }
        return numerals;
    }

    private static String text(byte[] numerals)
    {
        StringBuilder text = new StringBuilder();
        for (byte numeral : numerals) {
            text.append(ALPHABET.charAt(numeral));
        }
        return text.toString();
    }

    private static void sample(String key, int radix, String tweak, String plaintext, String ciphertext)
    {
        byte[] keyBytes = HexFormat.of().parseHex(key);
        byte[] tweakBytes = HexFormat.of().parseHex(tweak);
        assertEquals(ciphertext, text(Ff1.encrypt(keyBytes, radix, tweakBytes, numerals(plaintext))));
        assertEquals(plaintext, text(Ff1.decrypt(keyBytes, radix, tweakBytes, numerals(ciphertext))));
        // And through one long-lived instance, twice: per-thread engines re-initialized per call.
        Ff1 ff1 = new Ff1(keyBytes);
        for (int i = 0; i < 2; i++) {
            assertEquals(ciphertext, text(ff1.encrypt(radix, tweakBytes, numerals(plaintext))));
            assertEquals(plaintext, text(ff1.decrypt(radix, tweakBytes, numerals(ciphertext))));
        }
    }

    @Test
    void sample1Aes128Radix10NoTweak()
    {
        sample(AES128, 10, NO_TWEAK, DIGITS, "2433477484");
    }

    @Test
    void sample2Aes128Radix10Tweak()
    {
        sample(AES128, 10, TWEAK_10, DIGITS, "6124200773");
    }

    @Test
    void sample3Aes128Radix36Tweak()
    {
        sample(AES128, 36, TWEAK_11, BASE36, "a9tv40mll9kdu509eum");
    }

    @Test
    void sample4Aes192Radix10NoTweak()
    {
        sample(AES192, 10, NO_TWEAK, DIGITS, "2830668132");
    }

    @Test
    void sample5Aes192Radix10Tweak()
    {
        sample(AES192, 10, TWEAK_10, DIGITS, "2496655549");
    }

    @Test
    void sample6Aes192Radix36Tweak()
    {
        sample(AES192, 36, TWEAK_11, BASE36, "xbj3kv35jrawxv32ysr");
    }

    @Test
    void sample7Aes256Radix10NoTweak()
    {
        sample(AES256, 10, NO_TWEAK, DIGITS, "6657667009");
    }

    @Test
    void sample8Aes256Radix10Tweak()
    {
        sample(AES256, 10, TWEAK_10, DIGITS, "1001623463");
    }

    @Test
    void sample9Aes256Radix36Tweak()
    {
        sample(AES256, 36, TWEAK_11, BASE36, "xs8a0azh2avyalyzuwd");
    }

    @Test
    void onlyAesKeysAreAccepted()
    {
        assertThrows(IllegalArgumentException.class, () -> new Ff1(new byte[20]));
        assertThrows(IllegalArgumentException.class, () -> new Ff1(new byte[0]));
    }
}
