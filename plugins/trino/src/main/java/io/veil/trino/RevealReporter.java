package io.veil.trino;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import veil.v1.Decision.RecordRevealsRequest;
import veil.v1.Decision.RevealCount;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import java.util.logging.Level;
import java.util.logging.Logger;

import static java.util.Objects.requireNonNull;

/**
 * Counts the values {@code reveal} opens on this node, per query, user, data source, column and
 * policy, and hands the counts to the PDP ({@code RecordReveals}) from one background thread.
 *
 * <p>Query threads are never held up: {@link #count} adds to a counter in a concurrent map, never
 * blocks, never throws. Every {@code interval} (a second in a catalog) the thread takes what was
 * counted, adds it to what is still unsent (counts of one key merge) and sends it all, in batches of
 * at most {@link #MAX_BATCH} counts. A failed call keeps the counts and is retried with exponential
 * backoff, while new counts keep merging in; a PDP that refuses a batch as malformed
 * (INVALID_ARGUMENT) has it dropped, since sending it again cannot help. {@link #close} hands over
 * what it can before a deadline.
 *
 * <p>Bounded: at most {@code maxKeys} keys are counted and at most {@code maxKeys} wait to be sent; a
 * value for a key beyond that is dropped, counted, and logged (at most once a minute) with how many.
 */
final class RevealReporter
        implements AutoCloseable
{
    private static final Logger log = Logger.getLogger(RevealReporter.class.getName());

    static final Duration INTERVAL = Duration.ofSeconds(1);
    static final Duration INITIAL_BACKOFF = Duration.ofSeconds(1);
    static final Duration MAX_BACKOFF = Duration.ofSeconds(30);
    /** How long {@link #close} keeps trying to hand over what is counted. */
    static final Duration SHUTDOWN_FLUSH = Duration.ofSeconds(5);
    static final int MAX_KEYS = 100_000;
    /** Counts per {@code RecordReveals} call: a few hundred kilobytes at most. */
    static final int MAX_BATCH = 5_000;
    private static final long WARN_EVERY_NANOS = TimeUnit.MINUTES.toNanos(1);

    /** What one count is of; the node is the reporter's own. */
    record Key(String queryId, String user, String dataSource, String column, String policy)
    {
        Key
        {
            requireNonNull(queryId, "queryId is null");
            requireNonNull(user, "user is null");
            requireNonNull(dataSource, "dataSource is null");
            requireNonNull(column, "column is null");
            requireNonNull(policy, "policy is null");
        }
    }

    /**
     * One key's values since the thread last took them. The thread retires a counter that counted
     * nothing for a whole interval, so the map holds only keys in use; a value that finds its counter
     * retired puts a new one in its place, so no value is lost.
     */
    private static final class Counter
    {
        private static final long RETIRED = -1;
        private final AtomicLong values = new AtomicLong();

        /** False when retired: the caller must use a new counter. */
        boolean add()
        {
            while (true) {
                long current = values.get();
                if (current == RETIRED) {
                    return false;
                }
                if (values.compareAndSet(current, current + 1)) {
                    return true;
                }
            }
        }

        /** The values counted since the last take (the thread's alone). */
        long take()
        {
            return values.getAndSet(0);
        }

        /** Retires the counter if it counted nothing since the last take (the thread's alone). */
        boolean retire()
        {
            return values.compareAndSet(0, RETIRED);
        }
    }

    private final RevealPdp pdp;
    private final String node;
    private final long intervalNanos;
    private final long initialBackoffNanos;
    private final long maxBackoffNanos;
    private final long shutdownNanos;
    private final int maxKeys;
    private final Thread thread;

    private final ConcurrentHashMap<Key, Counter> counting = new ConcurrentHashMap<>();
    // The thread's own: counts taken and not yet accepted by the PDP, in the order they were first taken.
    private final Map<Key, Long> unsent = new LinkedHashMap<>();

    private final AtomicLong sent = new AtomicLong();
    private final LongAdder dropped = new LongAdder();
    private final AtomicLong failedCalls = new AtomicLong();
    private volatile long waiting;
    private volatile long closeBy;
    private volatile boolean closing;

    // The thread's own, for its rate-limited warnings.
    private long droppedWarned;
    private long lastDropWarning;
    private boolean failing;
    private long lastFailureWarning;

    /**
     * @param node this node's id, which every count names
     */
    RevealReporter(
            RevealPdp pdp,
            String node,
            Duration interval,
            Duration initialBackoff,
            Duration maxBackoff,
            Duration shutdownFlush,
            int maxKeys)
    {
        this.pdp = requireNonNull(pdp, "pdp is null");
        this.node = requireNonNull(node, "node is null");
        if (maxKeys < 1) {
            throw new IllegalArgumentException("maxKeys must be positive");
        }
        this.intervalNanos = Math.max(1, interval.toNanos());
        this.initialBackoffNanos = Math.max(1, initialBackoff.toNanos());
        this.maxBackoffNanos = Math.max(initialBackoffNanos, maxBackoff.toNanos());
        this.shutdownNanos = shutdownFlush.toNanos();
        this.maxKeys = maxKeys;
        this.lastDropWarning = System.nanoTime() - WARN_EVERY_NANOS;
        this.thread = Thread.ofPlatform().daemon().name("veil-reveal-reporter").unstarted(this::run);
    }

    /** A reporter for a catalog on this node, with the default interval and bounds, its thread started. */
    static RevealReporter start(RevealPdp pdp, String node)
    {
        return new RevealReporter(pdp, node, INTERVAL, INITIAL_BACKOFF, MAX_BACKOFF, SHUTDOWN_FLUSH, MAX_KEYS).start();
    }

    RevealReporter start()
    {
        thread.start();
        return this;
    }

    /** Counts one revealed value. Never blocks and never throws. */
    void count(Key key)
    {
        while (true) {
            Counter counter = counting.get(key);
            if (counter == null) {
                if (counting.size() >= maxKeys) {
                    dropped.increment();
                    return;
                }
                counter = counting.computeIfAbsent(key, _ -> new Counter());
            }
            if (counter.add()) {
                return;
            }
            // Retired meanwhile: replace it.
            counting.remove(key, counter);
        }
    }

    /** Values the PDP accepted. */
    long sent()
    {
        return sent.get();
    }

    /** Values dropped: beyond the bounds, or in a batch the PDP refused as malformed. */
    long dropped()
    {
        return dropped.sum();
    }

    /** {@code RecordReveals} calls that failed. */
    long failedCalls()
    {
        return failedCalls.get();
    }

    /** Keys whose counts the thread holds unsent. */
    long waiting()
    {
        return waiting;
    }

    boolean running()
    {
        return thread.isAlive();
    }

    private void run()
    {
        long backoff = initialBackoffNanos;
        long nextSend = System.nanoTime();
        while (!closing) {
            LockSupport.parkNanos(this, intervalNanos);
            if (closing) {
                break;
            }
            try {
                take();
                warnIfDue();
                if (unsent.isEmpty() || System.nanoTime() - nextSend < 0) {
                    continue;
                }
                if (send()) {
                    backoff = initialBackoffNanos;
                    nextSend = System.nanoTime();
                }
                else {
                    nextSend = System.nanoTime() + backoff;
                    backoff = Math.min(backoff * 2, maxBackoffNanos);
                }
            }
            catch (RuntimeException e) {
                // Not expected; the thread must outlive it all the same.
                log.log(Level.WARNING, "Veil: counting revealed values failed", e);
            }
        }
        try {
            flushOnClose();
        }
        catch (RuntimeException e) {
            log.log(Level.WARNING, "Veil: counting revealed values failed while shutting down", e);
        }
    }

    /** Moves what was counted into {@link #unsent}, merging counts of one key; retires idle counters. */
    private void take()
    {
        for (Map.Entry<Key, Counter> entry : counting.entrySet()) {
            Counter counter = entry.getValue();
            long values = counter.take();
            if (values == 0) {
                if (counter.retire()) {
                    counting.remove(entry.getKey(), counter);
                }
                continue;
            }
            Long before = unsent.get(entry.getKey());
            if (before == null && unsent.size() >= maxKeys) {
                dropped.add(values);
                continue;
            }
            unsent.put(entry.getKey(), before == null ? values : before + values);
        }
        waiting = unsent.size();
    }

    /** Sends everything unsent, a batch at a time; false when a call failed (what is left stays). */
    private boolean send()
    {
        while (!unsent.isEmpty()) {
            RecordRevealsRequest.Builder request = RecordRevealsRequest.newBuilder();
            List<Key> batch = new ArrayList<>(Math.min(MAX_BATCH, unsent.size()));
            long values = 0;
            for (Map.Entry<Key, Long> entry : unsent.entrySet()) {
                if (batch.size() == MAX_BATCH) {
                    break;
                }
                Key key = entry.getKey();
                request.addReveals(RevealCount.newBuilder()
                        .setQueryId(key.queryId())
                        .setUser(key.user())
                        .setDataSource(key.dataSource())
                        .setColumn(key.column())
                        .setPolicy(key.policy())
                        .setNode(node)
                        .setValues(entry.getValue()));
                batch.add(key);
                values += entry.getValue();
            }
            try {
                pdp.recordReveals(request.build());
            }
            catch (StatusRuntimeException e) {
                failedCalls.incrementAndGet();
                if (e.getStatus().getCode() == Status.Code.INVALID_ARGUMENT) {
                    remove(batch);
                    dropped.add(values);
                    // Said here, not as a bound.
                    droppedWarned += values;
                    log.warning("Veil: the policy decision point at %s refused a batch of %d reveal counts (%d values) (%s); they are dropped".formatted(
                            pdp.address(), batch.size(), values, PdpClient.describe(e.getStatus())));
                    continue;
                }
                reportFailure(e.getStatus());
                return false;
            }
            catch (RuntimeException e) {
                failedCalls.incrementAndGet();
                reportFailure(Status.fromThrowable(e));
                return false;
            }
            remove(batch);
            sent.addAndGet(values);
            if (failing) {
                failing = false;
                log.info("Veil: reveal counts reach the policy decision point at %s again".formatted(pdp.address()));
            }
        }
        return true;
    }

    private void remove(List<Key> batch)
    {
        for (Key key : batch) {
            unsent.remove(key);
        }
        waiting = unsent.size();
    }

    /** Hands over what it can before the shutdown's deadline. */
    private void flushOnClose()
    {
        take();
        long backoff = initialBackoffNanos;
        while (!unsent.isEmpty() && closeBy - System.nanoTime() > 0) {
            if (!send()) {
                LockSupport.parkNanos(this, Math.min(backoff, Math.max(0, closeBy - System.nanoTime())));
                backoff = Math.min(backoff * 2, maxBackoffNanos);
                take();
            }
        }
        warnIfDue();
        if (!unsent.isEmpty()) {
            long values = unsent.values().stream().mapToLong(Long::longValue).sum();
            log.warning("Veil: stopped with %d revealed values (%d counts) not handed to the policy decision point at %s".formatted(values, unsent.size(), pdp.address()));
        }
    }

    private void reportFailure(Status status)
    {
        long now = System.nanoTime();
        if (!failing || now - lastFailureWarning >= WARN_EVERY_NANOS) {
            log.warning("Veil: reveal counts cannot reach the policy decision point at %s (%s); %d counts wait, retrying".formatted(
                    pdp.address(), PdpClient.describe(status), unsent.size()));
            lastFailureWarning = now;
        }
        else {
            log.fine("Veil: reveal counts still cannot reach the policy decision point: " + status.getCode());
        }
        failing = true;
    }

    private void warnIfDue()
    {
        long now = System.nanoTime();
        long droppedNow = dropped.sum();
        if (droppedNow > droppedWarned && now - lastDropWarning >= WARN_EVERY_NANOS) {
            log.warning("Veil: dropped %d revealed values from the reveal counts (%d in total): more than %d distinct counts (query, user, column, policy) waited for the policy decision point at %s".formatted(
                    droppedNow - droppedWarned, droppedNow, maxKeys, pdp.address()));
            droppedWarned = droppedNow;
            lastDropWarning = now;
        }
    }


    /** Hands over what it can within a few seconds, then stops the thread; the PDP client stays open. */
    @Override
    public void close()
    {
        if (closing) {
            return;
        }
        closeBy = System.nanoTime() + shutdownNanos;
        closing = true;
        LockSupport.unpark(thread);
        try {
            thread.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(shutdownNanos)) + 1_000);
        }
        catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
