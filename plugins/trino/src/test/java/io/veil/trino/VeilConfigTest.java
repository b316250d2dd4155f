package io.veil.trino;

import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Catalog properties: documented defaults, and every mistake reported rather than ignored.
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
}
