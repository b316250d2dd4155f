package io.veil.trino;

import io.grpc.Status;
import org.junit.jupiter.api.Test;
import veil.v1.Decision.ChangeEvent;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The change stream: survives a PDP without WatchChanges, reconnects from the last version seen and
 * forwards exactly what each event names.
 */
class ChangeWatcherTest
{
    @Test
    void retriesQuietlyThenFollowsEventsAndResumesFromTheLastVersion()
            throws Exception
    {
        try (FakePdp pdp = new FakePdp();
                PdpClient client = PdpClient.connect(VeilConfig.fromProperties(Map.of(
                        "veil.pdp.address", pdp.address(),
                        "veil.run-as-user", "veil_admin",
                        "veil.pdp.token", "t0ken")))) {
            pdp.watchScript.add(Status.UNIMPLEMENTED);
            pdp.watchScript.add(Status.UNAVAILABLE);
            pdp.watchScript.add(List.of(
                    ChangeEvent.newBuilder().setPolicyVersion(3).addDataSources("sales.customers").build(),
                    ChangeEvent.newBuilder().setPolicyVersion(4).addUsers("bob").build()));
            pdp.watchScript.add(List.of(ChangeEvent.newBuilder().setPolicyVersion(9).setEverything(true).build()));

            BlockingQueue<ChangeSet> changes = new LinkedBlockingQueue<>();
            try (ChangeWatcher watcher = new ChangeWatcher(client.streamingStub(), "test", changes::add, Duration.ofMillis(10), Duration.ofMillis(50)).start()) {
                assertEquals(new ChangeSet(false, Set.of("sales.customers"), Set.of()), next(changes));
                assertEquals(new ChangeSet(false, Set.of(), Set.of("bob")), next(changes));
                assertEquals(ChangeSet.everythingChanged(), next(changes));
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                // After the script ends the PDP answers UNIMPLEMENTED again; the watcher keeps asking from version 9.
                while (pdp.watchSinceVersions.size() < 5 && System.nanoTime() < deadline) {
                    Thread.sleep(5);
                }
                assertEquals(9, watcher.lastVersion());
            }
            assertEquals(List.of(0L, 0L, 0L, 4L, 9L), pdp.watchSinceVersions.subList(0, 5));
            assertTrue(pdp.authorizations.stream().allMatch("Bearer t0ken"::equals), pdp.authorizations.toString());
        }
    }

    private static ChangeSet next(BlockingQueue<ChangeSet> changes)
            throws InterruptedException
    {
        ChangeSet change = changes.poll(10, TimeUnit.SECONDS);
        assertNotNull(change, "no change event forwarded within 10s");
        return change;
    }
}
