package io.veil.trino;

import io.airlift.units.Duration;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

import static java.util.Objects.requireNonNull;

/**
 * The catalog properties of a Veil catalog, parsed and validated once when the catalog is created.
 * Unknown properties are rejected so that a typo cannot silently weaken the configuration. Mask
 * keys are held in {@link MaskKeys}, so neither this record's {@code toString} nor an error shows a
 * mask key.
 */
public record VeilConfig(
        String pdpAddress,
        String runAsUser,
        Duration pdpTimeout,
        long cacheMaxSize,
        Duration cacheTtl,
        Optional<String> pdpToken,
        boolean tlsEnabled,
        Optional<Path> tlsTrustCertificates,
        Optional<ClientCertificate> tlsClientCertificate,
        MaskKeys maskKeys)
{
    /** The plugin's own certificate chain and PKCS#8 key (PEM), for a PDP that requires mutual TLS. */
    public record ClientCertificate(Path certificateChain, Path privateKey)
    {
        public ClientCertificate
        {
            requireNonNull(certificateChain, "certificateChain is null");
            requireNonNull(privateKey, "privateKey is null");
        }
    }

    public static final String PDP_ADDRESS = "veil.pdp.address";
    public static final String RUN_AS_USER = "veil.run-as-user";
    public static final String PDP_TIMEOUT = "veil.pdp.timeout";
    public static final String CACHE_MAX_SIZE = "veil.cache.max-size";
    public static final String CACHE_TTL = "veil.cache.ttl";
    public static final String PDP_TOKEN = "veil.pdp.token";
    public static final String TLS_ENABLED = "veil.pdp.tls.enabled";
    public static final String TLS_TRUST_CERTIFICATES = "veil.pdp.tls.trust-certificates";
    public static final String TLS_CLIENT_CERTIFICATE = "veil.pdp.tls.client-certificate";
    public static final String TLS_CLIENT_KEY = "veil.pdp.tls.client-key";
    /** {@code ID:HEX[,ID:HEX...]}, usually {@code ${ENV:VEIL_MASK_KEYS}}; the keys of the keyed mask functions. */
    public static final String MASK_KEYS = "veil.mask.keys";

    private static final Set<String> KNOWN = Set.of(
            PDP_ADDRESS, RUN_AS_USER, PDP_TIMEOUT, CACHE_MAX_SIZE, CACHE_TTL, PDP_TOKEN, TLS_ENABLED, TLS_TRUST_CERTIFICATES,
            TLS_CLIENT_CERTIFICATE, TLS_CLIENT_KEY, MASK_KEYS);

    public VeilConfig
    {
        requireNonNull(pdpAddress, "pdpAddress is null");
        requireNonNull(runAsUser, "runAsUser is null");
        requireNonNull(pdpTimeout, "pdpTimeout is null");
        requireNonNull(cacheTtl, "cacheTtl is null");
        requireNonNull(pdpToken, "pdpToken is null");
        requireNonNull(tlsTrustCertificates, "tlsTrustCertificates is null");
        requireNonNull(tlsClientCertificate, "tlsClientCertificate is null");
        requireNonNull(maskKeys, "maskKeys is null");
    }

    /** Every setting but the secrets: the PDP token shows only whether it is set. */
    @Override
    public String toString()
    {
        return "VeilConfig[pdpAddress=%s, runAsUser=%s, pdpTimeout=%s, cacheMaxSize=%d, cacheTtl=%s, pdpToken=%s, tlsEnabled=%s, tlsTrustCertificates=%s, tlsClientCertificate=%s, maskKeys=%s]".formatted(
                pdpAddress, runAsUser, pdpTimeout, cacheMaxSize, cacheTtl, pdpToken.isPresent() ? "(set)" : "(none)", tlsEnabled, tlsTrustCertificates, tlsClientCertificate, maskKeys);
    }

    /**
     * Parses the catalog properties; every problem found is reported at once.
     *
     * @throws IllegalArgumentException when a property is unknown, missing or malformed
     */
    public static VeilConfig fromProperties(Map<String, String> properties)
    {
        Map<String, String> remaining = new HashMap<>(properties);
        List<String> errors = new ArrayList<>();
        VeilConfig config = parse(remaining, errors, true);
        rejectUnknown(remaining, errors);
        throwIfAny("catalog", errors);
        return config;
    }

    /**
     * Parses the PDP connection, the run-as user and the cache settings, removing each property it reads
     * from {@code remaining} and adding every problem to {@code errors}; with {@code maskKeys} false,
     * {@link #MASK_KEYS} is left alone (it is then unknown) and there are no keys. The result is only
     * meaningful when no error was added.
     */
    static VeilConfig parse(Map<String, String> remaining, List<String> errors, boolean maskKeys)
    {
        VeilConfig connection = parseConnection(remaining, errors);
        String runAsUser = required(remaining, RUN_AS_USER, errors);
        Duration ttl = duration(remaining, CACHE_TTL, "1m", false, errors);
        long maxSize = 10_000;
        String maxSizeText = remaining.remove(CACHE_MAX_SIZE);
        if (maxSizeText != null) {
            try {
                maxSize = Long.parseLong(maxSizeText.trim());
                if (maxSize < 0) {
                    errors.add("`%s` must not be negative, got `%s`".formatted(CACHE_MAX_SIZE, maxSizeText));
                }
            }
            catch (NumberFormatException e) {
                errors.add("`%s` must be a number, got `%s`".formatted(CACHE_MAX_SIZE, maxSizeText));
            }
        }
        MaskKeys keys = maskKeys ? MaskKeys.parse(MASK_KEYS, remaining.remove(MASK_KEYS), errors) : MaskKeys.none();
        return new VeilConfig(
                connection.pdpAddress(),
                runAsUser == null ? "" : runAsUser,
                connection.pdpTimeout(), maxSize, ttl, connection.pdpToken(), connection.tlsEnabled(),
                connection.tlsTrustCertificates(), connection.tlsClientCertificate(), keys);
    }

    /**
     * Parses the PDP connection alone — {@link #PDP_ADDRESS}, {@link #PDP_TIMEOUT}, {@link #PDP_TOKEN} and
     * the {@code veil.pdp.tls.*} properties — like {@link #parse}, for what only talks to the PDP (the
     * query audit). The result has no run-as user, the default cache settings and no mask keys.
     */
    static VeilConfig parseConnection(Map<String, String> remaining, List<String> errors)
    {
        String address = required(remaining, PDP_ADDRESS, errors);
        if (address != null && !isHostAndPort(address)) {
            errors.add("`%s` must be host:port, got `%s`".formatted(PDP_ADDRESS, address));
        }
        Duration timeout = duration(remaining, PDP_TIMEOUT, "5s", true, errors);
        Optional<String> token = Optional.ofNullable(remaining.remove(PDP_TOKEN)).map(String::trim).filter(value -> !value.isEmpty());
        boolean tlsEnabled = false;
        String tlsText = remaining.remove(TLS_ENABLED);
        if (tlsText != null) {
            switch (tlsText.trim().toLowerCase(java.util.Locale.ENGLISH)) {
                case "true" -> tlsEnabled = true;
                case "false" -> tlsEnabled = false;
                default -> errors.add("`%s` must be true or false, got `%s`".formatted(TLS_ENABLED, tlsText));
            }
        }
        Optional<Path> trust = Optional.ofNullable(remaining.remove(TLS_TRUST_CERTIFICATES)).map(String::trim).map(Path::of);
        if (trust.isPresent() && !tlsEnabled) {
            errors.add("`%s` is set but `%s` is not true".formatted(TLS_TRUST_CERTIFICATES, TLS_ENABLED));
        }
        Optional<Path> clientCertificate = Optional.ofNullable(remaining.remove(TLS_CLIENT_CERTIFICATE)).map(String::trim).map(Path::of);
        Optional<Path> clientKey = Optional.ofNullable(remaining.remove(TLS_CLIENT_KEY)).map(String::trim).map(Path::of);
        if (clientCertificate.isPresent() != clientKey.isPresent()) {
            errors.add("`%s` and `%s` go together".formatted(TLS_CLIENT_CERTIFICATE, TLS_CLIENT_KEY));
        }
        if (clientCertificate.isPresent() && !tlsEnabled) {
            errors.add("`%s` is set but `%s` is not true".formatted(TLS_CLIENT_CERTIFICATE, TLS_ENABLED));
        }
        Optional<ClientCertificate> client = clientCertificate.isPresent() && clientKey.isPresent()
                ? Optional.of(new ClientCertificate(clientCertificate.get(), clientKey.get()))
                : Optional.empty();
        return new VeilConfig(
                address == null ? "" : address,
                "",
                timeout, 10_000, Duration.valueOf("1m"), token, tlsEnabled, trust, client, MaskKeys.none());
    }

    /** Adds an error for every property still in {@code remaining}, in name order. */
    static void rejectUnknown(Map<String, String> remaining, List<String> errors)
    {
        for (String unknown : new TreeSet<>(remaining.keySet())) {
            errors.add("unknown property `%s`".formatted(unknown));
        }
    }

    /** @param kind what was configured, for the message: {@code catalog}, {@code access control} */
    static void throwIfAny(String kind, List<String> errors)
    {
        if (!errors.isEmpty()) {
            throw new IllegalArgumentException("Veil: invalid %s configuration: %s".formatted(kind, String.join("; ", errors)));
        }
    }

    private static String required(Map<String, String> properties, String name, List<String> errors)
    {
        String value = properties.remove(name);
        if (value == null || value.isBlank()) {
            errors.add("`%s` is required".formatted(name));
            return null;
        }
        return value.trim();
    }

    /**
     * A duration in Trino's syntax ({@code 500ms}, {@code 5s}, {@code 1m}), the fallback when unset.
     *
     * @param positive whether zero is refused
     */
    static Duration duration(Map<String, String> properties, String name, String fallback, boolean positive, List<String> errors)
    {
        String value = properties.remove(name);
        try {
            Duration duration = Duration.valueOf((value == null ? fallback : value).trim());
            if (positive && duration.toMillis() <= 0) {
                errors.add("`%s` must be positive, got `%s`".formatted(name, value));
            }
            return duration;
        }
        catch (IllegalArgumentException e) {
            errors.add("`%s` must be a duration such as `5s` or `1m`, got `%s`".formatted(name, value));
            return Duration.valueOf(fallback);
        }
    }

    private static boolean isHostAndPort(String address)
    {
        int colon = address.lastIndexOf(':');
        if (colon <= 0 || colon == address.length() - 1) {
            return false;
        }
        try {
            int port = Integer.parseInt(address.substring(colon + 1));
            return port > 0 && port < 65536;
        }
        catch (NumberFormatException e) {
            return false;
        }
    }
}
