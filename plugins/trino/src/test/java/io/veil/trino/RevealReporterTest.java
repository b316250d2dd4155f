package io.veil.trino;

import io.grpc.Status;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import veil.v1.Decision.AuthorizeRevealResponse;
import veil.v1.Decision.RecordRevealsRequest;
import veil.v1.Decision.RevealCount;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static io.veil.trino.RevealFunctionTest.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The counts of revealed values: exact under concurrency, merged while the PDP is down, bounded,
 * and flushed on shutdown. Against an in-memory PDP; {@link RevealFunctionTest} covers the real one.
 */
class RevealReporterTest
{
    /** Accepts every batch unless {@link #failure} is set. */
    private static final class CountingPdp
            implements RevealPdp
    {
        final List<RecordRevealsRequest> accepted = new CopyOnWriteArrayList<>();
        final AtomicInteger calls = new AtomicInteger();
        volatile Status failure;

        @Override
        public AuthorizeRevealResponse authorizeReveal(PdpIdentity identity, String queryId, String dataSource, String column)
        {
            throw new AssertionError("not asked here");
        }

        @Override
        public int recordReveals(RecordRevealsRequest request)
        {
            calls.incrementAndGet();
            Status status = failure;
            if (status != null) {
                throw status.asRuntimeException();
            }
            accepted.add(request);
            return request.getRevealsCount();
        }

        @Override
        public String address()
        {
            return "pdp:50051";
        }

        Map<String, Long> sums()
        {
            Map<String, Long> sums = new TreeMap<>();
            for (RecordRevealsRequest request : accepted) {
                for (RevealCount count : request.getRevealsList()) {
                    sums.merge(count.getQueryId() + "|" + count.getColumn() + "|" + count.getNode(), count.getValues(), Long::sum);
                }
            }
            return sums;
        }
    }

    private final CountingPdp pdp = new CountingPdp();
    private RevealReporter reporter;

    private RevealReporter start(Duration interval, int maxKeys)
    {
        reporter = new RevealReporter(pdp, "worker-7", interval, Duration.ofMillis(10), Duration.ofMillis(50), Duration.ofSeconds(3), maxKeys).start();
        return reporter;
    }

    @AfterEach
    void stop()
    {
        if (reporter != null) {
            reporter.close();
        }
    }

    private static RevealReporter.Key key(String queryId, String column)
    {
        return new RevealReporter.Key(queryId, "alice", "support.customers", column, "tokenize");
    }

    @Test
    void countsAreExactWhileManyThreadsCountAndIdleCountersRetire()
            throws Exception
    {
        // A 1 ms interval retires counters all the time, under threads that keep counting.
        start(Duration.ofMillis(1), 1_000);
        ExecutorService threads = Executors.newFixedThreadPool(4);
        long[] expected = new long[40];
        List<Future<long[]>> work = new ArrayList<>();
        for (int thread = 0; thread < 4; thread++) {
            work.add(threads.submit(() -> {
                long[] counted = new long[expected.length];
                ThreadLocalRandom random = ThreadLocalRandom.current();
                for (int i = 0; i < 100_000; i++) {
                    int column = random.nextInt(expected.length);
                    reporter.count(key("q1", "c" + column));
                    counted[column]++;
                    if (i % 5_000 == 0) {
                        Thread.sleep(2);
                    }
                }
                return counted;
            }));
        }
        for (Future<long[]> future : work) {
            long[] counted = future.get(60, TimeUnit.SECONDS);
            for (int column = 0; column < expected.length; column++) {
                expected[column] += counted[column];
            }
        }
        threads.shutdownNow();
        reporter.close();
        assertFalse(reporter.running());
        assertEquals(400_000, reporter.sent());
        assertEquals(0, reporter.dropped());
        Map<String, Long> sums = pdp.sums();
        for (int column = 0; column < expected.length; column++) {
            assertEquals(expected[column], sums.get("q1|c" + column + "|worker-7"), "column c" + column);
        }
    }

    @Test
    void countsAreSentAtEveryIntervalWhileThereAreCounts()
            throws Exception
    {
        start(Duration.ofMillis(20), 1_000);
        reporter.count(key("q1", "email"));
        await(() -> reporter.sent() == 1, "the first count");
        reporter.count(key("q1", "email"));
        reporter.count(key("q1", "email"));
        await(() -> reporter.sent() == 3, "the next two");
        assertEquals(Map.of("q1|email|worker-7", 3L), pdp.sums());
        // Nothing counted, nothing sent.
        int calls = pdp.calls.get();
        Thread.sleep(100);
        assertEquals(calls, pdp.calls.get());
        RevealCount count = pdp.accepted.getFirst().getReveals(0);
        assertEquals("alice", count.getUser());
        assertEquals("support.customers", count.getDataSource());
        assertEquals("tokenize", count.getPolicy());
    }

    @Test
    void unsentCountsMergeAndWaitOutAnOutage()
            throws Exception
    {
        pdp.failure = Status.UNAVAILABLE;
        start(Duration.ofMillis(5), 1_000);
        for (int i = 0; i < 4; i++) {
            reporter.count(key("q1", "email"));
        }
        await(() -> pdp.calls.get() >= 3, "retries");
        reporter.count(key("q1", "email"));
        reporter.count(key("q2", "email"));
        await(() -> reporter.waiting() == 2, "two keys waiting");
        pdp.failure = null;
        await(() -> reporter.sent() == 6, "all sent");
        assertEquals(Map.of("q1|email|worker-7", 5L, "q2|email|worker-7", 1L), pdp.sums());
        // One count per key and call: the merged ones went as one.
        assertEquals(1, pdp.accepted.stream().mapToLong(request -> request.getRevealsList().stream().filter(count -> count.getQueryId().equals("q1")).count()).sum());
    }

    @Test
    void aBatchThePdpRefusesAsMalformedIsDropped()
            throws Exception
    {
        pdp.failure = Status.INVALID_ARGUMENT.withDescription("empty user");
        start(Duration.ofMillis(5), 1_000);
        reporter.count(key("q1", "email"));
        reporter.count(key("q1", "email"));
        await(() -> reporter.dropped() == 2, "the batch dropped");
        pdp.failure = null;
        reporter.count(key("q2", "email"));
        await(() -> reporter.sent() == 1, "the next one sent");
        assertEquals(Map.of("q2|email|worker-7", 1L), pdp.sums());
    }

    @Test
    void beyondTheBoundCountsAreDropped()
    {
        // Never sends on its own: what is bounded is what waits.
        start(Duration.ofHours(1), 2);
        for (String column : List.of("a", "b", "c", "d")) {
            reporter.count(key("q1", column));
        }
        // Keys already counted still count.
        reporter.count(key("q1", "a"));
        assertEquals(2, reporter.dropped());
        reporter.close();
        assertEquals(3, reporter.sent());
        assertEquals(Map.of("q1|a|worker-7", 2L, "q1|b|worker-7", 1L), pdp.sums());
    }

    @Test
    void beyondTheBoundUnsentCountsAreDropped()
            throws Exception
    {
        pdp.failure = Status.UNAVAILABLE;
        start(Duration.ofMillis(5), 2);
        reporter.count(key("q1", "a"));
        reporter.count(key("q1", "b"));
        await(() -> reporter.waiting() == 2, "two keys waiting");
        // A key that waits still counts; a new one cannot wait.
        reporter.count(key("q1", "a"));
        reporter.count(key("q1", "c"));
        await(() -> reporter.dropped() == 1, "c dropped");
        pdp.failure = null;
        await(() -> reporter.sent() == 3, "a and b sent");
        assertEquals(Map.of("q1|a|worker-7", 2L, "q1|b|worker-7", 1L), pdp.sums());
    }

    @Test
    void closingHandsOverWhatIsCounted()
    {
        start(Duration.ofHours(1), 1_000);
        for (int i = 0; i < 3; i++) {
            reporter.count(key("q1", "email"));
        }
        reporter.count(key("q2", "phone"));
        assertEquals(0, pdp.calls.get());
        reporter.close();
        assertFalse(reporter.running());
        assertEquals(Map.of("q1|email|worker-7", 3L, "q2|phone|worker-7", 1L), pdp.sums());
    }

    @Test
    void closingGivesUpAtItsDeadlineWhenThePdpIsDown()
    {
        pdp.failure = Status.UNAVAILABLE;
        reporter = new RevealReporter(pdp, "worker-7", Duration.ofHours(1), Duration.ofMillis(10), Duration.ofMillis(50), Duration.ofMillis(200), 1_000).start();
        reporter.count(key("q1", "email"));
        long start = System.nanoTime();
        reporter.close();
        long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertFalse(reporter.running());
        assertTrue(millis < 2_000, millis + " ms");
        assertTrue(pdp.calls.get() >= 2, "it retried");
        assertEquals(0, reporter.sent());
    }
}
