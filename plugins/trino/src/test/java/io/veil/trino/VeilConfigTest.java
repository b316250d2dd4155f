package io.veil.trino;

import org.junit.jupiter.api.Test;

import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Catalog properties: documented defaults, every mistake reported rather than ignored, and mask
 * keys never shown, neither by the parsed configuration nor by an error about them.
 */
class VeilConfigTest
{
    @Test
    void defaults()
    {
        VeilConfig config = VeilConfig.fromProperties(Map.of("veil.pdp.address", "pdp:50051", "veil.run-as-user", "veil_admin"));
        assertEquals("pdp:50051", config.pdpAddress());
        assertEquals("veil_admin", config.runAsUser());
        assertEquals(5_000, config.pdpTimeout().toMillis());
        assertEquals(10_000, config.cacheMaxSize());
        assertEquals(60_000, config.cacheTtl().toMillis());
        assertEquals(Optional.empty(), config.pdpToken());
        assertFalse(config.tlsEnabled());
        assertEquals(Set.of(), config.maskKeys().ids());
    }

    @Test
    void everyProperty()
    {
        VeilConfig config = VeilConfig.fromProperties(Map.of(
                "veil.pdp.address", "127.0.0.1:7000",
                "veil.run-as-user", "svc",
                "veil.pdp.timeout", "250ms",
                "veil.cache.max-size", "5",
                "veil.cache.ttl", "10s",
                "veil.pdp.token", "s3cret",
                "veil.pdp.tls.enabled", "true",
                "veil.pdp.tls.client-certificate", "/etc/trino/plugin.pem",
                "veil.pdp.tls.client-key", "/etc/trino/plugin.key"));
        assertEquals(250, config.pdpTimeout().toMillis());
        assertEquals(
                Optional.of(new VeilConfig.ClientCertificate(java.nio.file.Path.of("/etc/trino/plugin.pem"), java.nio.file.Path.of("/etc/trino/plugin.key"))),
                config.tlsClientCertificate());
        assertEquals(5, config.cacheMaxSize());
        assertEquals(10_000, config.cacheTtl().toMillis());
        assertEquals(Optional.of("s3cret"), config.pdpToken());
        assertTrue(config.tlsEnabled());
        assertFalse(config.toString().contains("s3cret"), config.toString());
        assertTrue(config.toString().contains("pdpToken=(set)"), config.toString());
    }

    @Test
    void reportsEveryProblemAtOnce()
    {
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class, () -> VeilConfig.fromProperties(Map.of(
                "veil.pdp.address", "no-port",
                "veil.pdp.timout", "5s",
                "veil.cache.ttl", "forever")));
        String message = error.getMessage();
        assertTrue(message.startsWith("Veil: "), message);
        assertTrue(message.contains("`veil.pdp.address` must be host:port, got `no-port`"), message);
        assertTrue(message.contains("`veil.run-as-user` is required"), message);
        assertTrue(message.contains("unknown property `veil.pdp.timout`"), message);
        assertTrue(message.contains("`veil.cache.ttl` must be a duration"), message);
    }

    @Test
    void aClientCertificateNeedsItsKeyAndTls()
    {
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class, () -> VeilConfig.fromProperties(Map.of(
                "veil.pdp.address", "127.0.0.1:7000",
                "veil.run-as-user", "svc",
                "veil.pdp.tls.client-certificate", "/etc/trino/plugin.pem")));
        String message = error.getMessage();
        assertTrue(message.contains("`veil.pdp.tls.client-certificate` and `veil.pdp.tls.client-key` go together"), message);
        assertTrue(message.contains("`veil.pdp.tls.client-certificate` is set but `veil.pdp.tls.enabled` is not true"), message);
    }

    private static final String K1 = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    private static final String K2 = "C0FFEEC0FFEEC0FFEEC0FFEEC0FFEEC0FFEEC0FFEEC0FFEEC0FFEEC0FFEEC0FF";

    private static VeilConfig withMaskKeys(String value)
    {
        return VeilConfig.fromProperties(Map.of("veil.pdp.address", "pdp:50051", "veil.run-as-user", "veil_admin", "veil.mask.keys", value));
    }

    /** The error for a bad `veil.mask.keys`, checked to show neither the value nor any key in it. */
    private static String maskKeysError(String value, String... keys)
    {
        String message = assertThrows(IllegalArgumentException.class, () -> withMaskKeys(value)).getMessage();
        assertTrue(message.startsWith("Veil: invalid catalog configuration: "), message);
        assertFalse(message.contains(value.trim()), message);
        for (String key : keys) {
            // Not even a recognizable part of the key.
            for (int start = 0; start + 8 <= key.length(); start += 8) {
                assertFalse(message.toLowerCase(java.util.Locale.ROOT).contains(key.substring(start, start + 8).toLowerCase(java.util.Locale.ROOT)), message);
            }
        }
        return message;
    }

    @Test
    void oneMaskKey()
    {
        VeilConfig config = withMaskKeys("k1:" + K1);
        assertEquals(Set.of("k1"), config.maskKeys().ids());
        assertArrayEquals(HexFormat.of().parseHex(K1), config.maskKeys().key("k1").orElseThrow());
        assertEquals("MaskKeys[k1]", config.maskKeys().toString());
        assertFalse(config.toString().contains(K1), config.toString());
        assertTrue(config.toString().contains("maskKeys=MaskKeys[k1]"), config.toString());
    }

    @Test
    void severalMaskKeysWithWhitespaceAndEitherCase()
    {
        VeilConfig config = withMaskKeys("  k1:" + K1 + " ,\tprod.2026-01_b : " + K2 + "  ");
        assertEquals(List.of("k1", "prod.2026-01_b"), List.copyOf(config.maskKeys().ids()));
        assertArrayEquals(HexFormat.of().parseHex(K2.toLowerCase(java.util.Locale.ROOT)), config.maskKeys().key("prod.2026-01_b").orElseThrow());
        assertEquals(Optional.empty(), config.maskKeys().key("k2"));
        // The key a caller gets is a copy.
        config.maskKeys().key("k1").orElseThrow()[0] = 42;
        assertArrayEquals(HexFormat.of().parseHex(K1), config.maskKeys().key("k1").orElseThrow());
        String printed = config.toString();
        assertFalse(printed.contains(K1) || printed.toLowerCase(java.util.Locale.ROOT).contains(K2.toLowerCase(java.util.Locale.ROOT)), printed);
        assertEquals(withMaskKeys("k1:" + K1.toUpperCase(java.util.Locale.ROOT) + ",prod.2026-01_b:" + K2).maskKeys(), config.maskKeys());
    }

    @Test
    void aBlankMaskKeysValueMeansNoKeys()
    {
        assertEquals(MaskKeys.none(), withMaskKeys("  ").maskKeys());
    }

    @Test
    void aMaskKeyThatIsNotHexIsRejected()
    {
        String bad = K1.substring(0, 30) + "zz" + K1.substring(32);
        assertEquals("Veil: invalid catalog configuration: `veil.mask.keys` key `k1` must be an even number of hex digits",
                maskKeysError("k1:" + bad, bad));
        String odd = K1 + "0";
        assertTrue(maskKeysError("k1:" + odd, odd).contains("`veil.mask.keys` key `k1` must be an even number of hex digits"));
        // Non-ASCII digits are not hex digits.
        String arabic = K1.substring(0, 62) + "\u0661\u0662";
        assertTrue(maskKeysError("k1:" + arabic, K1.substring(0, 62)).contains("key `k1` must be an even number of hex digits"));
    }

    @Test
    void aShortMaskKeyIsRejected()
    {
        String shortKey = K1.substring(0, 62);
        assertEquals("Veil: invalid catalog configuration: `veil.mask.keys` key `k1` must be at least 32 bytes (64 hex digits), got 31 bytes",
                maskKeysError("k1:" + shortKey, shortKey));
        assertTrue(maskKeysError("k1:", new String[0]).contains("`veil.mask.keys` key `k1` must be an even number of hex digits"));
    }

    @Test
    void aDuplicateMaskKeyIdIsRejected()
    {
        assertEquals("Veil: invalid catalog configuration: `veil.mask.keys` has key id `k1` more than once (item 2)",
                maskKeysError("k1:" + K1 + ",k1:" + K2, K1, K2));
    }

    @Test
    void aBadMaskKeyIdIsRejectedWithoutEchoingIt()
    {
        for (String id : List.of("k 1", "k/1", "", "x".repeat(65), "ключ")) {
            String message = maskKeysError(id + ":" + K1, K1, K2);
            assertEquals("Veil: invalid catalog configuration: `veil.mask.keys` item 1 has an invalid key id (expected [A-Za-z0-9_.-]{1,64})", message);
        }
        // A key pasted without an id: not echoed either.
        assertEquals("Veil: invalid catalog configuration: `veil.mask.keys` item 2 must be ID:HEX", maskKeysError("k1:" + K1 + "," + K2, K1, K2));
    }

    @Test
    void anEmptyMaskKeyItemIsRejected()
    {
        assertEquals("Veil: invalid catalog configuration: `veil.mask.keys` item 2 is empty",
                maskKeysError("k1:" + K1 + ", ,k2:" + K2, K1, K2));
        assertTrue(maskKeysError("k1:" + K1 + ",", K1).contains("`veil.mask.keys` item 2 is empty"));
    }

    @Test
    void everyMaskKeyProblemIsReportedAtOnce()
    {
        String message = maskKeysError("k1:" + K1 + ",k1:" + K2 + ",,k3:abc,bad id:" + K1, K1, K2);
        assertTrue(message.contains("`veil.mask.keys` has key id `k1` more than once (item 2)"), message);
        assertTrue(message.contains("`veil.mask.keys` item 3 is empty"), message);
        assertTrue(message.contains("`veil.mask.keys` key `k3` must be an even number of hex digits"), message);
        assertTrue(message.contains("`veil.mask.keys` item 5 has an invalid key id"), message);
    }
}
