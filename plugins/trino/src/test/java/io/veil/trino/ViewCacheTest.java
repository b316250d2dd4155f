package io.veil.trino;

import com.google.common.base.Ticker;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The view cache drops exactly what a change event names, never caches a failure, and never lets an
 * answer computed before an invalidation survive it.
 */
class ViewCacheTest
{
    private static final ViewKey ALICE_CUSTOMERS = new ViewKey("alice", List.of("analysts"), "", "sales", "customers");
    private static final ViewKey ALICE_ORDERS = new ViewKey("alice", List.of("analysts"), "", "sales", "orders");
    private static final ViewKey BOB_CUSTOMERS = new ViewKey("bob", List.of(), "", "sales", "customers");
    private static final ViewKey BOB_ORDERS = new ViewKey("bob", List.of(), "", "sales", "orders");
    private static final ViewKey ALICE_FRAUD_CUSTOMERS = new ViewKey("alice", List.of("analysts"), "fraud-2026", "sales", "customers");

    private final AtomicInteger loads = new AtomicInteger();

    private Optional<String> load(ViewKey key)
    {
        loads.incrementAndGet();
        return Optional.of(key.user() + ":" + key.dataSource());
    }

    private void fill(ViewCache<ViewKey, String> cache)
    {
        for (ViewKey key : List.of(ALICE_CUSTOMERS, ALICE_ORDERS, BOB_CUSTOMERS, BOB_ORDERS, ALICE_FRAUD_CUSTOMERS)) {
            cache.get(key, () -> load(key));
        }
    }

    @Test
    void servesRepeatedLookupsFromTheCache()
    {
        ViewCache<ViewKey, String> cache = ViewCache.ofViews(100, Duration.ofMinutes(1));
        fill(cache);
        fill(cache);
        assertEquals(5, loads.get());
        assertEquals(Optional.of("bob:sales.orders"), cache.get(BOB_ORDERS, () -> load(BOB_ORDERS)));
        assertEquals(5, loads.get());
    }

    @Test
    void dropsEveryIdentityOfAChangedDataSource()
    {
        ViewCache<ViewKey, String> cache = ViewCache.ofViews(100, Duration.ofMinutes(1));
        fill(cache);
        assertEquals(3, cache.invalidate(new ChangeSet(false, Set.of("sales.customers"), Set.of())));
        assertEquals(2, cache.size());
        fill(cache);
        assertEquals(5 + 3, loads.get());
    }

    @Test
    void dropsEveryViewOfAChangedUser()
    {
        ViewCache<ViewKey, String> cache = ViewCache.ofViews(100, Duration.ofMinutes(1));
        fill(cache);
        assertEquals(2, cache.invalidate(new ChangeSet(false, Set.of(), Set.of("bob"))));
        cache.get(ALICE_ORDERS, () -> load(ALICE_ORDERS));
        assertEquals(5, loads.get());
        cache.get(BOB_ORDERS, () -> load(BOB_ORDERS));
        assertEquals(6, loads.get());
    }

    @Test
    void dataSourcesAndUsersOfOneEventAreBothDropped()
    {
        ViewCache<ViewKey, String> cache = ViewCache.ofViews(100, Duration.ofMinutes(1));
        fill(cache);
        // sales.orders for anyone (alice, bob) plus everything of bob (bob's customers).
        assertEquals(3, cache.invalidate(new ChangeSet(false, Set.of("sales.orders"), Set.of("bob"))));
        assertEquals(2, cache.size());
    }

    @Test
    void anUnrelatedChangeDropsNothing()
    {
        ViewCache<ViewKey, String> cache = ViewCache.ofViews(100, Duration.ofMinutes(1));
        fill(cache);
        assertEquals(0, cache.invalidate(new ChangeSet(false, Set.of("sales.customer", "customers"), Set.of("carol", "Alice"))));
        assertEquals(5, cache.size());
    }

    @Test
    void everythingDropsAll()
    {
        ViewCache<ViewKey, String> cache = ViewCache.ofViews(100, Duration.ofMinutes(1));
        fill(cache);
        cache.invalidate(ChangeSet.everythingChanged());
        assertEquals(0, cache.size());
    }

    @Test
    void absenceIsCachedAndInvalidatedLikeAView()
    {
        ViewCache<ViewKey, String> cache = ViewCache.ofViews(100, Duration.ofMinutes(1));
        cache.get(BOB_CUSTOMERS, () -> {
            loads.incrementAndGet();
            return Optional.empty();
        });
        assertEquals(Optional.empty(), cache.get(BOB_CUSTOMERS, () -> load(BOB_CUSTOMERS)));
        assertEquals(1, loads.get());
        cache.invalidate(new ChangeSet(false, Set.of("sales.customers"), Set.of()));
        assertEquals(Optional.of("bob:sales.customers"), cache.get(BOB_CUSTOMERS, () -> load(BOB_CUSTOMERS)));
    }

    @Test
    void failuresAreNotCached()
    {
        ViewCache<ViewKey, String> cache = ViewCache.ofViews(100, Duration.ofMinutes(1));
        assertThrows(IllegalStateException.class, () -> cache.get(ALICE_CUSTOMERS, () -> {
            throw new IllegalStateException("pdp down");
        }));
        assertEquals(0, cache.size());
        assertEquals(Optional.of("alice:sales.customers"), cache.get(ALICE_CUSTOMERS, () -> load(ALICE_CUSTOMERS)));
    }

    @Test
    void aLoadThatRacesWithAnInvalidationIsNotCached()
    {
        ViewCache<ViewKey, String> cache = ViewCache.ofViews(100, Duration.ofMinutes(1));
        Optional<String> stale = cache.get(ALICE_CUSTOMERS, () -> {
            // The PDP answered with the old policy, and the change event arrives before the answer is stored.
            cache.invalidate(new ChangeSet(false, Set.of("sales.customers"), Set.of()));
            return Optional.of("old");
        });
        assertEquals(Optional.of("old"), stale);
        assertEquals(Optional.of("alice:sales.customers"), cache.get(ALICE_CUSTOMERS, () -> load(ALICE_CUSTOMERS)));
    }

    @Test
    void entriesExpireAfterTheTtl()
    {
        AtomicLong nanos = new AtomicLong();
        Ticker ticker = new Ticker()
        {
            @Override
            public long read()
            {
                return nanos.get();
            }
        };
        ViewCache<ViewKey, String> cache = ViewCache.ofViews(100, Duration.ofSeconds(60), ticker);
        cache.get(ALICE_CUSTOMERS, () -> load(ALICE_CUSTOMERS));
        nanos.addAndGet(Duration.ofSeconds(59).toNanos());
        cache.get(ALICE_CUSTOMERS, () -> load(ALICE_CUSTOMERS));
        assertEquals(1, loads.get());
        nanos.addAndGet(Duration.ofSeconds(2).toNanos());
        cache.get(ALICE_CUSTOMERS, () -> load(ALICE_CUSTOMERS));
        assertEquals(2, loads.get());
    }

    @Test
    void sizeIsBounded()
    {
        ViewCache<ViewKey, String> cache = ViewCache.ofViews(2, Duration.ofMinutes(1));
        fill(cache);
        assertEquals(2, cache.size());
    }

    @Test
    void groupsAndProjectArePartOfTheKey()
    {
        ViewCache<ViewKey, String> cache = ViewCache.ofViews(100, Duration.ofMinutes(1));
        cache.get(ALICE_CUSTOMERS, () -> Optional.of("plain"));
        assertEquals(Optional.of("fraud"), cache.get(ALICE_FRAUD_CUSTOMERS, () -> Optional.of("fraud")));
        ViewKey otherGroups = new ViewKey("alice", List.of("analysts", "hr"), "", "sales", "customers");
        assertEquals(Optional.of("hr"), cache.get(otherGroups, () -> Optional.of("hr")));
        assertEquals(Optional.of("plain"), cache.get(ALICE_CUSTOMERS, () -> Optional.of("never")));
    }
}
