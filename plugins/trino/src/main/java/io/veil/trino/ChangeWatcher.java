package io.veil.trino;

import io.grpc.Context;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import veil.v1.Decision.ChangeEvent;
import veil.v1.Decision.WatchChangesRequest;
import veil.v1.PolicyDecisionGrpc.PolicyDecisionBlockingStub;

import java.time.Duration;
import java.util.Iterator;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Consumer;
import java.util.logging.Level;
import java.util.logging.Logger;

import static java.util.Objects.requireNonNull;

/**
 * Follows the PDP's {@code WatchChanges} stream on a background thread and hands every change to a
 * listener (the view cache). Reconnects with exponential backoff, resuming from the last policy version
 * seen; while the stream is down, the cache's TTL bounds how stale a view can be.
 */
public final class ChangeWatcher
        implements AutoCloseable
{
    private static final Logger log = Logger.getLogger(ChangeWatcher.class.getName());

    private final PolicyDecisionBlockingStub stub;
    private final Consumer<ChangeSet> listener;
    private final Duration initialBackoff;
    private final Duration maxBackoff;
    private final Thread thread;

    private volatile boolean closed;
    private volatile Context.CancellableContext call;
    private volatile long lastVersion;
    private boolean warned;

    public ChangeWatcher(PolicyDecisionBlockingStub stub, String name, Consumer<ChangeSet> listener, Duration initialBackoff, Duration maxBackoff)
    {
        this.stub = requireNonNull(stub, "stub is null");
        this.listener = requireNonNull(listener, "listener is null");
        this.initialBackoff = requireNonNull(initialBackoff, "initialBackoff is null");
        this.maxBackoff = requireNonNull(maxBackoff, "maxBackoff is null");
        this.thread = Thread.ofPlatform().daemon().name("veil-watch-" + name).unstarted(this::run);
    }

    public ChangeWatcher start()
    {
        thread.start();
        return this;
    }

    /** The newest policy version a change event reported. */
    public long lastVersion()
    {
        return lastVersion;
    }

    private void run()
    {
        long backoffMillis = initialBackoff.toMillis();
        while (!closed) {
            Context.CancellableContext context = Context.current().withCancellation();
            call = context;
            boolean receivedAny = false;
            try {
                receivedAny = context.call(this::follow);
                log.fine("Veil: change stream ended by the policy decision point; reconnecting");
            }
            catch (StatusRuntimeException e) {
                if (closed) {
                    return;
                }
                report(e.getStatus());
            }
            catch (Exception e) {
                if (closed) {
                    return;
                }
                log.log(Level.WARNING, "Veil: change stream failed", e);
            }
            finally {
                context.cancel(null);
            }
            if (receivedAny) {
                backoffMillis = initialBackoff.toMillis();
            }
            if (!pause(backoffMillis)) {
                return;
            }
            backoffMillis = Math.min(backoffMillis * 2, maxBackoff.toMillis());
        }
    }

    /** Reads events until the stream ends; says whether any arrived. */
    private boolean follow()
    {
        Iterator<ChangeEvent> events = stub.watchChanges(WatchChangesRequest.newBuilder().setSinceVersion(lastVersion).build());
        boolean receivedAny = false;
        while (events.hasNext()) {
            ChangeEvent event = events.next();
            receivedAny = true;
            warned = false;
            apply(event);
        }
        return receivedAny;
    }

    private void apply(ChangeEvent event)
    {
        ChangeSet change = event.getEverything()
                ? ChangeSet.everythingChanged()
                : new ChangeSet(false, Set.copyOf(event.getDataSourcesList()), Set.copyOf(event.getUsersList()));
        listener.accept(change);
        lastVersion = Math.max(lastVersion, event.getPolicyVersion());
    }

    private void report(Status status)
    {
        // UNIMPLEMENTED: a PDP without change streams; the TTL alone bounds staleness, so say it once.
        if (!warned) {
            warned = true;
            Level level = status.getCode() == Status.Code.UNIMPLEMENTED ? Level.INFO : Level.WARNING;
            log.log(level, "Veil: change stream unavailable (%s%s), cached views expire by TTL; retrying".formatted(status.getCode(), status.getDescription() == null ? "" : ": " + status.getDescription()));
        }
        else {
            log.fine("Veil: change stream still unavailable: " + status.getCode());
        }
    }

    /** Sleeps with jitter; false when closed meanwhile. */
    private boolean pause(long millis)
    {
        long jittered = millis / 2 + ThreadLocalRandom.current().nextLong(millis / 2 + 1);
        try {
            Thread.sleep(jittered);
            return !closed;
        }
        catch (InterruptedException e) {
            return false;
        }
    }

    @Override
    public void close()
    {
        closed = true;
        Context.CancellableContext current = call;
        if (current != null) {
            current.cancel(null);
        }
        thread.interrupt();
        try {
            thread.join(5_000);
        }
        catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
