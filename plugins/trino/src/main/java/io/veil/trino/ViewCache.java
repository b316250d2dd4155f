package io.veil.trino;

import com.google.common.base.Ticker;
import com.google.common.cache.Cache;
import com.google.common.cache.CacheBuilder;

import java.time.Duration;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * Cached view decisions per (user, groups, project, schema, table), bounded in size and age, dropped
 * precisely by the PDP's change events. Absence (not found / not visible) is cached like a view;
 * failures are never cached.
 *
 * <p>A load that races with an invalidation is returned to its caller but not cached, so an
 * invalidation can never be undone by an answer computed before it.
 */
public final class ViewCache<V>
{
    private final Cache<ViewKey, Optional<V>> cache;
    private final Object lock = new Object();
    // INVARIANT: incremented (under lock) by every invalidation; a load caches its result only when
    // the generation it started under is still current.
    private long generation;

    public ViewCache(long maxSize, Duration ttl)
    {
        this(maxSize, ttl, Ticker.systemTicker());
    }

    public ViewCache(long maxSize, Duration ttl, Ticker ticker)
    {
        cache = CacheBuilder.newBuilder()
                .maximumSize(maxSize)
                .expireAfterWrite(ttl)
                .ticker(ticker)
                .build();
    }

    /** The cached decision for the key, or the loader's, which is cached unless an invalidation raced with it. */
    public Optional<V> get(ViewKey key, Supplier<Optional<V>> loader)
    {
        Optional<V> cached = cache.getIfPresent(key);
        if (cached != null) {
            return cached;
        }
        long startedAt;
        synchronized (lock) {
            startedAt = generation;
        }
        Optional<V> loaded = loader.get();
        synchronized (lock) {
            if (generation == startedAt) {
                cache.put(key, loaded);
            }
        }
        return loaded;
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
            cache.asMap().keySet().removeIf(key -> {
                boolean affected = change.affects(key);
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
