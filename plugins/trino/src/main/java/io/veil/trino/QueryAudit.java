package io.veil.trino;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.trino.spi.eventlistener.EventListener;
import io.trino.spi.eventlistener.QueryCompletedEvent;
import veil.v1.Decision.QueryRecord;
import veil.v1.Decision.RecordQueriesRequest;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.logging.Level;
import java.util.logging.Logger;

import static java.util.Objects.requireNonNull;

/**
 * The {@code veil} event listener: hands every completed query that read a table to the PDP's query
 * audit ({@code RecordQueries}), in batches, from one background thread.
 *
 * <p>Trino is never held up: {@link #queryCompleted} converts the event ({@link QueryRecords}) and
 * offers it to a bounded queue, never blocks and never throws. The thread sends a batch when
 * {@code batchSize} queries are waiting or {@code flushInterval} has passed; a failed call keeps the
 * batch and is retried with exponential backoff. A query that finds the queue full is dropped and
 * counted, and the next batch the PDP accepts carries how many were dropped since the previous one,
 * so the audit knows of every gap. The queue bounds everything held, including the batch being sent:
 * a batch leaves the queue only once the PDP has accepted it.
 */
public final class QueryAudit
        implements EventListener
{
    private static final Logger log = Logger.getLogger(QueryAudit.class.getName());

    /** The records of one batch take at most this many bytes (unless one alone is larger), well under gRPC's usual 4 MiB per message. */
    static final long MAX_BATCH_BYTES = 3L * 1024 * 1024;
    static final Duration INITIAL_BACKOFF = Duration.ofSeconds(1);
    static final Duration MAX_BACKOFF = Duration.ofSeconds(30);
    /** How long {@link #shutdown} keeps trying to hand over what is queued. */
    static final Duration SHUTDOWN_FLUSH = Duration.ofSeconds(5);
    private static final long WARN_EVERY_NANOS = TimeUnit.MINUTES.toNanos(1);

    private final PdpClient client;
    private final VeilCatalogs veilCatalogs;
    private final QueryProjects projects;
    private final int queueSize;
    private final int batchSize;
    private final long flushNanos;
    private final long initialBackoffNanos;
    private final long maxBackoffNanos;
    private final long shutdownNanos;
    // INVARIANT: only the audit thread removes records, and only once the PDP has accepted them (or
    // refused them for good), so the head of the queue is always the batch being sent.
    private final ArrayBlockingQueue<QueryRecord> queue;
    private final Thread thread;

    private final AtomicLong sent = new AtomicLong();
    private final AtomicLong dropped = new AtomicLong();
    /** Dropped since the last batch the PDP accepted: the next batch's {@code dropped}. */
    private final AtomicLong unreported = new AtomicLong();
    private final AtomicLong failedCalls = new AtomicLong();
    private final AtomicLong failedEvents = new AtomicLong();
    private volatile Throwable lastEventFailure;
    private volatile long closeBy;
    private volatile boolean closing;

    // The audit thread's own, for its rate-limited warnings.
    private long droppedWarned;
    private long lastDropWarning;
    private long eventFailuresWarned;
    private long lastEventWarning;
    private boolean failing;
    private long lastFailureWarning;

    QueryAudit(
            PdpClient client,
            VeilCatalogs veilCatalogs,
            QueryProjects projects,
            int queueSize,
            int batchSize,
            Duration flushInterval,
            Duration initialBackoff,
            Duration maxBackoff,
            Duration shutdownFlush)
    {
        this.client = requireNonNull(client, "client is null");
        this.veilCatalogs = requireNonNull(veilCatalogs, "veilCatalogs is null");
        this.projects = requireNonNull(projects, "projects is null");
        if (queueSize < 1 || batchSize < 1) {
            throw new IllegalArgumentException("queueSize and batchSize must be positive");
        }
        this.queueSize = queueSize;
        this.batchSize = batchSize;
        this.flushNanos = flushInterval.toNanos();
        this.initialBackoffNanos = Math.max(1, initialBackoff.toNanos());
        this.maxBackoffNanos = Math.max(initialBackoffNanos, maxBackoff.toNanos());
        this.shutdownNanos = shutdownFlush.toNanos();
        this.queue = new ArrayBlockingQueue<>(queueSize);
        long now = System.nanoTime();
        this.lastDropWarning = now - WARN_EVERY_NANOS;
        this.lastEventWarning = now - WARN_EVERY_NANOS;
        this.thread = Thread.ofPlatform().daemon().name("veil-query-audit").unstarted(this::run);
    }

    /** The listener for the configuration, its thread started; the PDP need not be up. */
    static QueryAudit start(VeilAuditConfig config, VeilCatalogs veilCatalogs, QueryProjects projects)
    {
        PdpClient client = PdpClient.connect(config.connection());
        return new QueryAudit(
                client,
                veilCatalogs,
                projects,
                config.queueSize(),
                config.batchSize(),
                Duration.ofMillis(config.flushInterval().toMillis()),
                INITIAL_BACKOFF,
                MAX_BACKOFF,
                SHUTDOWN_FLUSH).start();
    }

    QueryAudit start()
    {
        thread.start();
        return this;
    }

    @Override
    public void queryCompleted(QueryCompletedEvent event)
    {
        try {
            // Taken even when the query is not recorded, so that nothing is left behind.
            String project = projects.take(event.getMetadata().getQueryId());
            if (event.getMetadata().getTables().isEmpty()) {
                return;
            }
            QueryRecord record = QueryRecords.of(event, project, veilCatalogs);
            if (!queue.offer(record)) {
                dropped.incrementAndGet();
                unreported.incrementAndGet();
                return;
            }
            if (queue.size() >= batchSize) {
                LockSupport.unpark(thread);
            }
        }
        catch (RuntimeException | Error e) {
            // Never into Trino; the audit thread logs it.
            failedEvents.incrementAndGet();
            lastEventFailure = e;
        }
    }

    /** Queries the PDP accepted. */
    public long sent()
    {
        return sent.get();
    }

    /** Queries dropped because the queue was full (or because the PDP refused them as malformed). */
    public long dropped()
    {
        return dropped.get();
    }

    /** {@code RecordQueries} calls that failed. */
    public long failedCalls()
    {
        return failedCalls.get();
    }

    /** Completion events that could not be converted. */
    public long failedEvents()
    {
        return failedEvents.get();
    }

    /** Queries waiting for the PDP, the batch being sent included. */
    public int queued()
    {
        return queue.size();
    }

    /** Whether its thread still runs. */
    boolean running()
    {
        return thread.isAlive();
    }

    private void run()
    {
        long backoff = initialBackoffNanos;
        long nextFlush = System.nanoTime() + flushNanos;
        while (!closing) {
            boolean progress;
            try {
                long now = System.nanoTime();
                if (queue.size() < batchSize && now - nextFlush < 0) {
                    LockSupport.parkNanos(this, nextFlush - now);
                    continue;
                }
                warnIfDue();
                if (queue.isEmpty() && unreported.get() == 0) {
                    nextFlush = now + flushNanos;
                    continue;
                }
                progress = sendBatch();
            }
            catch (RuntimeException e) {
                // Not expected; the thread must outlive it all the same.
                log.log(Level.WARNING, "Veil: the query audit failed", e);
                progress = false;
            }
            if (progress) {
                backoff = initialBackoffNanos;
                // What arrived meanwhile goes at once if the deadline has passed; a queue that ran
                // empty starts a new interval.
                if (queue.isEmpty()) {
                    nextFlush = System.nanoTime() + flushNanos;
                }
            }
            else {
                pause(backoff);
                backoff = Math.min(backoff * 2, maxBackoffNanos);
            }
        }
        try {
            flushOnClose();
        }
        catch (RuntimeException e) {
            log.log(Level.WARNING, "Veil: the query audit failed while shutting down", e);
        }
    }

    /** Sends the head of the queue; true when that made progress. */
    private boolean sendBatch()
    {
        List<QueryRecord> batch = head();
        long reported = unreported.get();
        RecordQueriesRequest request = RecordQueriesRequest.newBuilder()
                .addAllQueries(batch)
                .setDropped(reported)
                .build();
        try {
            client.recordQueries(request);
        }
        catch (StatusRuntimeException e) {
            failedCalls.incrementAndGet();
            if (e.getStatus().getCode() == Status.Code.INVALID_ARGUMENT && !batch.isEmpty()) {
                // Refused as they are: sending them again cannot help, and would stop the audit.
                remove(batch.size());
                dropped.addAndGet(batch.size());
                unreported.addAndGet(batch.size());
                // Said here, not as a full queue.
                droppedWarned += batch.size();
                log.warning("Veil: the policy decision point at %s refused a batch of %d audited queries (%s); they are dropped and reported as dropped".formatted(
                        client.address(), batch.size(), PdpClient.describe(e.getStatus())));
                return true;
            }
            reportFailure(e.getStatus());
            return false;
        }
        catch (RuntimeException e) {
            failedCalls.incrementAndGet();
            reportFailure(Status.fromThrowable(e));
            return false;
        }
        remove(batch.size());
        unreported.addAndGet(-reported);
        sent.addAndGet(batch.size());
        if (failing) {
            failing = false;
            log.info("Veil: the query audit reaches the policy decision point at %s again".formatted(client.address()));
        }
        return true;
    }

    /** The next batch: up to {@code batchSize} records from the head of the queue, within {@link #MAX_BATCH_BYTES}. */
    private List<QueryRecord> head()
    {
        List<QueryRecord> batch = new ArrayList<>(Math.min(batchSize, queue.size()));
        long bytes = 0;
        for (QueryRecord record : queue) {
            if (batch.size() == batchSize) {
                break;
            }
            // The record, its field tag and its length.
            long size = record.getSerializedSize() + 6L;
            if (!batch.isEmpty() && bytes + size > MAX_BATCH_BYTES) {
                break;
            }
            batch.add(record);
            bytes += size;
        }
        return batch;
    }

    private void remove(int count)
    {
        for (int i = 0; i < count; i++) {
            queue.poll();
        }
    }

    /** Waits out a backoff; a shutdown ends it early. */
    private void pause(long nanos)
    {
        long until = System.nanoTime() + nanos;
        long left;
        while (!closing && (left = until - System.nanoTime()) > 0) {
            LockSupport.parkNanos(this, left);
            warnIfDue();
        }
    }

    /** Hands over what it can before the shutdown's deadline. */
    private void flushOnClose()
    {
        long backoff = initialBackoffNanos;
        while ((!queue.isEmpty() || unreported.get() > 0) && closeBy - System.nanoTime() > 0) {
            if (!sendBatch()) {
                LockSupport.parkNanos(this, Math.min(backoff, closeBy - System.nanoTime()));
                backoff = Math.min(backoff * 2, maxBackoffNanos);
            }
        }
        warnIfDue();
        int left = queue.size();
        if (left > 0) {
            log.warning("Veil: the query audit stopped with %d completed queries not handed to the policy decision point at %s".formatted(left, client.address()));
        }
    }

    private void reportFailure(Status status)
    {
        long now = System.nanoTime();
        if (!failing || now - lastFailureWarning >= WARN_EVERY_NANOS) {
            log.warning("Veil: the query audit cannot reach the policy decision point at %s (%s); %d completed queries wait, retrying".formatted(
                    client.address(), PdpClient.describe(status), queue.size()));
            lastFailureWarning = now;
        }
        else {
            log.fine("Veil: the query audit still cannot reach the policy decision point: " + status.getCode());
        }
        failing = true;
    }

    private void warnIfDue()
    {
        long now = System.nanoTime();
        long droppedNow = dropped.get();
        if (droppedNow > droppedWarned && now - lastDropWarning >= WARN_EVERY_NANOS) {
            log.warning("Veil: the query audit dropped %d completed queries (%d in total): its queue of %d (%s) was full".formatted(
                    droppedNow - droppedWarned, droppedNow, queueSize, VeilAuditConfig.QUEUE_SIZE));
            droppedWarned = droppedNow;
            lastDropWarning = now;
        }
        long failedNow = failedEvents.get();
        if (failedNow > eventFailuresWarned && now - lastEventWarning >= WARN_EVERY_NANOS) {
            log.log(Level.WARNING, "Veil: the query audit could not record %d completed queries (%d in total)".formatted(failedNow - eventFailuresWarned, failedNow), lastEventFailure);
            eventFailuresWarned = failedNow;
            lastEventWarning = now;
        }
    }


    /** Hands over what it can within a few seconds, then stops the thread and closes the channel. */
    @Override
    public void shutdown()
    {
        if (closing) {
            return;
        }
        closeBy = System.nanoTime() + shutdownNanos;
        closing = true;
        LockSupport.unpark(thread);
        try {
            thread.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(shutdownNanos)));
            // Cancels a call still under way, which ends the thread.
            client.close();
            thread.join(1_000);
        }
        catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            client.close();
        }
    }
}
