package io.veil.trino;

import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.Optional;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The access control's properties: the catalog's PDP connection with its defaults, deny by default,
 * every mistake reported, and the catalog-only mask keys refused without being shown.
 */
class VeilAccessConfigTest
{
    @Test
    void defaults()
    {
        VeilAccessConfig config = VeilAccessConfig.fromProperties(Map.of("veil.pdp.address", "pdp:50051", "veil.run-as-user", "veil_admin"));
        assertEquals(UnregisteredTables.DENY, config.unregisteredTables());
        assertEquals(Optional.empty(), config.governedCatalogs());
        assertEquals("veil_admin", config.connection().runAsUser());
        assertEquals(5_000, config.connection().pdpTimeout().toMillis());
        assertEquals(10_000, config.connection().cacheMaxSize());
        assertEquals(60_000, config.connection().cacheTtl().toMillis());
        assertEquals(Set.of(), config.connection().maskKeys().ids());
    }

    @Test
    void everyProperty()
    {
        VeilAccessConfig config = VeilAccessConfig.fromProperties(Map.ofEntries(
                Map.entry("veil.pdp.address", "127.0.0.1:7000"),
                Map.entry("veil.run-as-user", "svc"),
                Map.entry("veil.pdp.timeout", "250ms"),
                Map.entry("veil.cache.max-size", "5"),
                Map.entry("veil.cache.ttl", "10s"),
                Map.entry("veil.pdp.token", "s3cret"),
                Map.entry("veil.pdp.tls.enabled", "true"),
                Map.entry("veil.pdp.tls.trust-certificates", "/etc/trino/ca.pem"),
                Map.entry("veil.pdp.tls.client-certificate", "/etc/trino/plugin.pem"),
                Map.entry("veil.pdp.tls.client-key", "/etc/trino/plugin.key"),
                Map.entry("veil.unregistered-tables", " Allow "),
                Map.entry("veil.governed-catalogs", "tpch, Hive ,memory")));
        assertEquals(UnregisteredTables.ALLOW, config.unregisteredTables());
        assertEquals(Optional.of(Set.of("tpch", "hive", "memory")), config.governedCatalogs());
        assertEquals(250, config.connection().pdpTimeout().toMillis());
        assertEquals(Optional.of("s3cret"), config.connection().pdpToken());
        assertTrue(config.connection().tlsEnabled());
        assertTrue(config.connection().tlsClientCertificate().isPresent());
        assertFalse(config.toString().contains("s3cret"), config.toString());
    }

    @Test
    void reportsEveryProblemAtOnce()
    {
        String message = assertThrows(IllegalArgumentException.class, () -> VeilAccessConfig.fromProperties(Map.of(
                "veil.pdp.address", "no-port",
                "veil.unregistered-tables", "maybe",
                "veil.governed-catalogs", "tpch,,hive",
                "veil.mask.keys", "k1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                "veil.cache.tll", "1m"))).getMessage();
        assertTrue(message.startsWith("Veil: invalid access control configuration: "), message);
        assertTrue(message.contains("`veil.pdp.address` must be host:port, got `no-port`"), message);
        assertTrue(message.contains("`veil.run-as-user` is required"), message);
        assertTrue(message.contains("`veil.unregistered-tables` must be deny or allow, got `maybe`"), message);
        assertTrue(message.contains("`veil.governed-catalogs` must be a comma-separated list of catalog names"), message);
        assertTrue(message.contains("`veil.mask.keys` belongs in the Veil catalog's properties, not the access control's"), message);
        assertTrue(message.contains("unknown property `veil.cache.tll`"), message);
        assertFalse(message.contains("000102030405"), message);
    }

    @Test
    void theCatalogStillTakesItsMaskKeys()
    {
        VeilConfig config = VeilConfig.fromProperties(Map.of(
                "veil.pdp.address", "pdp:50051",
                "veil.run-as-user", "veil_admin",
                "veil.mask.keys", "k1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"));
        assertEquals(Set.of("k1"), config.maskKeys().ids());
        String message = assertThrows(IllegalArgumentException.class, () -> VeilConfig.fromProperties(Map.of(
                "veil.pdp.address", "pdp:50051",
                "veil.run-as-user", "veil_admin",
                "veil.unregistered-tables", "deny"))).getMessage();
        assertEquals("Veil: invalid catalog configuration: unknown property `veil.unregistered-tables`", message);
    }
}
