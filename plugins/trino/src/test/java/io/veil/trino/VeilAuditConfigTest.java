package io.veil.trino;

import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The event listener's properties: the PDP connection as the catalog and the access control take it,
 * the queue's bounds with their defaults, and every mistake reported at once, naming the property.
 */
class VeilAuditConfigTest
{
    @Test
    void defaults()
    {
        VeilAuditConfig config = VeilAuditConfig.fromProperties(Map.of("veil.pdp.address", "pdp:50051"));
        assertEquals("pdp:50051", config.connection().pdpAddress());
        assertEquals(5_000, config.connection().pdpTimeout().toMillis());
        assertEquals(Optional.empty(), config.connection().pdpToken());
        assertFalse(config.connection().tlsEnabled());
        assertEquals(10_000, config.queueSize());
        assertEquals(500, config.batchSize());
        assertEquals(1_000, config.flushInterval().toMillis());
    }

    @Test
    void everyProperty()
    {
        VeilAuditConfig config = VeilAuditConfig.fromProperties(Map.ofEntries(
                Map.entry("veil.pdp.address", "127.0.0.1:7000"),
                Map.entry("veil.pdp.timeout", "250ms"),
                Map.entry("veil.pdp.token", "s3cret"),
                Map.entry("veil.pdp.tls.enabled", "true"),
                Map.entry("veil.pdp.tls.trust-certificates", "/etc/trino/ca.pem"),
                Map.entry("veil.pdp.tls.client-certificate", "/etc/trino/plugin.pem"),
                Map.entry("veil.pdp.tls.client-key", "/etc/trino/plugin.key"),
                Map.entry("veil.audit.queue-size", " 50 "),
                Map.entry("veil.audit.batch-size", "7"),
                Map.entry("veil.audit.flush-interval", "250ms")));
        assertEquals(250, config.connection().pdpTimeout().toMillis());
        assertEquals(Optional.of("s3cret"), config.connection().pdpToken());
        assertTrue(config.connection().tlsEnabled());
        assertTrue(config.connection().tlsTrustCertificates().isPresent());
        assertTrue(config.connection().tlsClientCertificate().isPresent());
        assertEquals(50, config.queueSize());
        assertEquals(7, config.batchSize());
        assertEquals(250, config.flushInterval().toMillis());
        assertFalse(config.toString().contains("s3cret"), config.toString());
    }

    @Test
    void reportsEveryProblemAtOnceNamingEachProperty()
    {
        String message = assertThrows(IllegalArgumentException.class, () -> VeilAuditConfig.fromProperties(Map.of(
                "veil.pdp.address", "no-port",
                "veil.pdp.tls.trust-certificates", "/etc/trino/ca.pem",
                "veil.audit.queue-size", "0",
                "veil.audit.batch-size", "many",
                "veil.audit.flush-interval", "soon",
                "veil.run-as-user", "veil_admin",
                "veil.mask.keys", "k1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                "veil.audit.queue-sise", "10"))).getMessage();
        assertTrue(message.startsWith("Veil: invalid event listener configuration: "), message);
        assertTrue(message.contains("`veil.pdp.address` must be host:port, got `no-port`"), message);
        assertTrue(message.contains("`veil.pdp.tls.trust-certificates` is set but `veil.pdp.tls.enabled` is not true"), message);
        assertTrue(message.contains("`veil.audit.queue-size` must be between 1 and 1000000, got `0`"), message);
        assertTrue(message.contains("`veil.audit.batch-size` must be a whole number, got `many`"), message);
        assertTrue(message.contains("`veil.audit.flush-interval` must be a duration such as `5s` or `1m`, got `soon`"), message);
        assertTrue(message.contains("`veil.run-as-user` belongs in the Veil catalog's or access control's properties, not the event listener's"), message);
        assertTrue(message.contains("`veil.mask.keys` belongs in the Veil catalog's or access control's properties, not the event listener's"), message);
        assertTrue(message.contains("unknown property `veil.audit.queue-sise`"), message);
        assertFalse(message.contains("000102030405"), message);
    }

    @Test
    void theAddressIsRequiredAndTheBoundsPositive()
    {
        String message = assertThrows(IllegalArgumentException.class, () -> VeilAuditConfig.fromProperties(Map.of(
                "veil.audit.queue-size", "2000000",
                "veil.audit.batch-size", "-1",
                "veil.audit.flush-interval", "0s"))).getMessage();
        assertEquals("Veil: invalid event listener configuration: `veil.pdp.address` is required; "
                + "`veil.audit.queue-size` must be between 1 and 1000000, got `2000000`; "
                + "`veil.audit.batch-size` must be between 1 and 2147483647, got `-1`; "
                + "`veil.audit.flush-interval` must be positive, got `0s`", message);
    }
}

