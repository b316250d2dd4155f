package io.veil.trino;

import io.airlift.units.Duration;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static java.util.Objects.requireNonNull;

/**
 * The properties of the Veil event listener ({@code etc/event-listener.properties} with
 * {@code event-listener.name=veil}), the query audit: the PDP connection exactly as the catalog and
 * the access control take it ({@code veil.pdp.*}, see {@link VeilConfig#parseConnection}), plus the
 * bounds of its queue. Unknown properties are rejected, the catalog's and access control's own ones
 * (run-as user, cache, mask keys) included.
 *
 * @param connection the PDP connection; its run-as user, cache and mask keys are unused and empty
 * @param queueSize how many completed queries wait for the PDP at most; more are dropped and counted
 * @param batchSize how many queries one {@code RecordQueries} call carries at most
 * @param flushInterval how long a query waits at most before its batch is sent
 */
public record VeilAuditConfig(VeilConfig connection, int queueSize, int batchSize, Duration flushInterval)
{
    public static final String QUEUE_SIZE = "veil.audit.queue-size";
    public static final String BATCH_SIZE = "veil.audit.batch-size";
    public static final String FLUSH_INTERVAL = "veil.audit.flush-interval";

    static final int DEFAULT_QUEUE_SIZE = 10_000;
    static final int DEFAULT_BATCH_SIZE = 500;
    static final String DEFAULT_FLUSH_INTERVAL = "1s";
    // The queue is allocated whole up front.
    static final int MAX_QUEUE_SIZE = 1_000_000;

    private static final List<String> OTHERS = List.of(VeilConfig.RUN_AS_USER, VeilConfig.CACHE_MAX_SIZE, VeilConfig.CACHE_TTL, VeilConfig.MASK_KEYS);

    public VeilAuditConfig
    {
        requireNonNull(connection, "connection is null");
        requireNonNull(flushInterval, "flushInterval is null");
    }

    /**
     * Parses the event listener's properties; every problem found is reported at once.
     *
     * @throws IllegalArgumentException when a property is unknown, missing or malformed
     */
    public static VeilAuditConfig fromProperties(Map<String, String> properties)
    {
        Map<String, String> remaining = new HashMap<>(properties);
        List<String> errors = new ArrayList<>();
        VeilConfig connection = VeilConfig.parseConnection(remaining, errors);
        int queueSize = count(remaining, QUEUE_SIZE, DEFAULT_QUEUE_SIZE, MAX_QUEUE_SIZE, errors);
        int batchSize = count(remaining, BATCH_SIZE, DEFAULT_BATCH_SIZE, Integer.MAX_VALUE, errors);
        Duration flushInterval = VeilConfig.duration(remaining, FLUSH_INTERVAL, DEFAULT_FLUSH_INTERVAL, true, errors);
        for (String other : OTHERS) {
            // Named, never echoed: the mask keys are key material.
            if (remaining.remove(other) != null) {
                errors.add("`%s` belongs in the Veil catalog's or access control's properties, not the event listener's".formatted(other));
            }
        }
        VeilConfig.rejectUnknown(remaining, errors);
        VeilConfig.throwIfAny("event listener", errors);
        return new VeilAuditConfig(connection, queueSize, batchSize, flushInterval);
    }

    private static int count(Map<String, String> properties, String name, int fallback, int max, List<String> errors)
    {
        String value = properties.remove(name);
        if (value == null) {
            return fallback;
        }
        try {
            int parsed = Integer.parseInt(value.trim());
            if (parsed < 1 || parsed > max) {
                errors.add("`%s` must be between 1 and %d, got `%s`".formatted(name, max, value));
                return fallback;
            }
            return parsed;
        }
        catch (NumberFormatException e) {
            errors.add("`%s` must be a whole number, got `%s`".formatted(name, value));
            return fallback;
        }
    }
}
