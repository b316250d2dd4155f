package io.veil.trino;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * HMAC-SHA256 against the test vectors of RFC 4231, section 4 (keys shorter than configuration
 * allows: the 32-byte minimum is {@link MaskKeys}'s, not the HMAC's), and per-thread state that
 * neither leaks between calls nor between threads.
 */
class HmacSha256Test
{
    private static final HexFormat HEX = HexFormat.of();

    private static String hmac(byte[] key, byte[] data)
    {
        return HEX.formatHex(new HmacSha256(key).mac(data, 0, data.length));
    }

    private static byte[] repeat(int value, int count)
    {
        byte[] bytes = new byte[count];
        Arrays.fill(bytes, (byte) value);
        return bytes;
    }

    private static byte[] ascii(String text)
    {
        return text.getBytes(StandardCharsets.US_ASCII);
    }

    @Test
    void testCase1()
    {
        assertEquals("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", hmac(repeat(0x0b, 20), ascii("Hi There")));
    }

    @Test
    void testCase2KeyShorterThanOutput()
    {
        assertEquals("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", hmac(ascii("Jefe"), ascii("what do ya want for nothing?")));
    }

    @Test
    void testCase3()
    {
        assertEquals("773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe", hmac(repeat(0xaa, 20), repeat(0xdd, 50)));
    }

    @Test
    void testCase4()
    {
        byte[] key = HEX.parseHex("0102030405060708090a0b0c0d0e0f10111213141516171819");
        assertEquals("82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b", hmac(key, repeat(0xcd, 50)));
    }

    @Test
    void testCase5TruncatedTo128Bits()
    {
        String full = hmac(repeat(0x0c, 20), ascii("Test With Truncation"));
        assertEquals(64, full.length());
        assertTrue(full.startsWith("a3b6167473100ee06e0c796c2955552b"), full);
    }

    @Test
    void testCase6KeyLargerThanBlock()
    {
        assertEquals("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
                hmac(repeat(0xaa, 131), ascii("Test Using Larger Than Block-Size Key - Hash Key First")));
    }

    @Test
    void testCase7KeyAndDataLargerThanBlock()
    {
        assertEquals("9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
                hmac(repeat(0xaa, 131), ascii("This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.")));
    }

    @Test
    void callsDoNotShareStateAndHonourOffsetAndLength()
    {
        HmacSha256 mac = new HmacSha256(repeat(0x0b, 20));
        byte[] padded = ascii("xxHi Therexx");
        // Twice: a Mac left dirty by the first call would change the second answer.
        for (int i = 0; i < 2; i++) {
            assertEquals("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", HEX.formatHex(mac.mac(padded, 2, 8)));
        }
    }

    @Test
    void threadsGetTheSameAnswers()
            throws Exception
    {
        HmacSha256 mac = new HmacSha256(ascii("Jefe"));
        byte[] data = ascii("what do ya want for nothing?");
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Callable<String>> calls = IntStream.range(0, 64)
                    .<Callable<String>>mapToObj(_ -> () -> HEX.formatHex(mac.mac(data, 0, data.length)))
                    .toList();
            for (Future<String> result : pool.invokeAll(calls)) {
                assertEquals("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", result.get());
            }
        }
        finally {
            pool.shutdownNow();
        }
    }

    @Test
    void anEmptyKeyIsRejected()
    {
        assertThrows(IllegalArgumentException.class, () -> new HmacSha256(new byte[0]));
    }
}
