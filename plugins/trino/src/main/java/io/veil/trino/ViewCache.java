package io.veil.trino;

import com.google.common.base.Ticker;
import com.google.common.cache.Cache;
import com.google.common.cache.CacheBuilder;

import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.function.Supplier;

import static java.util.Objects.requireNonNull;

/**
 * Cached PDP decisions per key — the governed catalog's views per {@link ViewKey}, the access
 * control's table answers per {@link TableAccessKey} — bounded in size and age, dropped precisely by
 * the PDP's change events. Absence (not found / not visible) is cached like a view; failures are
 * never cached.
 *
 * <p>A load that races with an invalidation is returned to its caller but not cached, so an
 * invalidation can never be undone by an answer computed before it.
 */
public final class ViewCache<K, V>
{
    /** Whether a change may have made the cached answer for a key stale. */
    @FunctionalInterface
    public interface Staleness<K, V>
    {
        boolean affects(ChangeSet change, K key, Optional<V> answer);
    }

    private final Cache<K, Optional<V>> cache;
    private final Staleness<K, V> staleness;
    private final Object lock = new Object();
    // INVARIANT: incremented (under lock) by every invalidation; a load caches its result only when
    // the generation it started under is still current.
    private long generation;

    public ViewCache(long maxSize, Duration ttl, Staleness<K, V> staleness)
    {
        this(maxSize, ttl, staleness, Ticker.systemTicker());
    }

    public ViewCache(long maxSize, Duration ttl, Staleness<K, V> staleness, Ticker ticker)
    {
        this.staleness = requireNonNull(staleness, "staleness is null");
        cache = CacheBuilder.newBuilder()
                .maximumSize(maxSize)
                .expireAfterWrite(ttl)
                .ticker(ticker)
                .build();
    }

    /** A cache of views: a change names the data source ({@code schema.table}) or the user of the key. */
    public static <V> ViewCache<ViewKey, V> ofViews(long maxSize, Duration ttl)
    {
        return ofViews(maxSize, ttl, Ticker.systemTicker());
    }

    public static <V> ViewCache<ViewKey, V> ofViews(long maxSize, Duration ttl, Ticker ticker)
    {
        return new ViewCache<>(maxSize, ttl, (change, key, _) -> change.affects(key), ticker);
    }

    /** The cached decision for the key, or the loader's, which is cached unless an invalidation raced with it. */
    public Optional<V> get(K key, Supplier<Optional<V>> loader)
    {
        Optional<V> cached = cache.getIfPresent(key);
        if (cached != null) {
            return cached;
        }
        long startedAt = generation();
        Optional<V> loaded = loader.get();
        offer(key, loaded, startedAt);
        return loaded;
    }

    /** Where invalidations stand: take it before asking the PDP, and give it to {@link #offer}. */
    public long generation()
    {
        synchronized (lock) {
            return generation;
        }
    }

    /** Caches a decision fetched since {@code startedAt}, unless an invalidation came in between. */
    public void offer(K key, Optional<V> value, long startedAt)
    {
        synchronized (lock) {
            if (generation == startedAt) {
                cache.put(key, value);
            }
        }
    }

    /** The cached decision for the key, if any; empty also when absence is cached. Never loads. */
    public Optional<V> cached(K key)
    {
        Optional<V> cached = cache.getIfPresent(key);
        return cached == null ? Optional.empty() : cached;
    }

    /** Drops every entry the change may have made stale; returns how many were dropped. */
    public int invalidate(ChangeSet change)
    {
        synchronized (lock) {
            generation++;
            if (change.everything()) {
                int size = (int) cache.size();
                cache.invalidateAll();
                return size;
            }
            int[] dropped = {0};
            cache.asMap().entrySet().removeIf((Map.Entry<K, Optional<V>> entry) -> {
                boolean affected = staleness.affects(change, entry.getKey(), entry.getValue());
                if (affected) {
                    dropped[0]++;
                }
                return affected;
            });
            return dropped[0];
        }
    }

    public long size()
    {
        cache.cleanUp();
        return cache.size();
    }
}
