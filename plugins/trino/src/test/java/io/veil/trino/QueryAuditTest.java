package io.veil.trino;

import io.grpc.Status;
import io.trino.spi.eventlistener.ColumnInfo;
import io.trino.spi.eventlistener.QueryCompletedEvent;
import io.trino.spi.eventlistener.QueryContext;
import io.trino.spi.eventlistener.TableInfo;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import veil.v1.Decision.QueryColumn;
import veil.v1.Decision.QueryRecord;
import veil.v1.Decision.QueryTable;
import veil.v1.Decision.RecordQueriesRequest;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static io.veil.trino.QueryEvents.CREATED;
import static io.veil.trino.QueryEvents.ENDED;
import static io.veil.trino.QueryEvents.STARTED;
import static io.veil.trino.QueryEvents.table;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The query audit against a scripted PDP over real gRPC: what a completion event becomes, how records
 * are batched, and that a slow or absent PDP never holds Trino up while every drop is counted and
 * reported.
 */
class QueryAuditTest
{
    private static final TableInfo VIEW = table("veil", "sales", "customers", true, List.of(), List.of(
            new ColumnInfo("custkey", Optional.empty()),
            new ColumnInfo("name", Optional.empty())));
    private static final TableInfo BACKING = table("tpch", "tiny", "customer", false, List.of("\"nationkey\" IN (1, 2)", "\"custkey\" < 1000"), List.of(
            new ColumnInfo("custkey", Optional.empty()),
            new ColumnInfo("name", Optional.of("CAST(\"veil\".\"system\".\"hash\"('default', \"name\") AS varchar(25))"))));

    private final VeilCatalogs veilCatalogs = new VeilCatalogs();
    private final QueryProjects projects = new QueryProjects();
    private FakePdp pdp;
    private PdpClient client;
    private QueryAudit audit;

    QueryAuditTest()
    {
        veilCatalogs.add("veil");
        projects.enable();
    }

    private QueryAudit start(int queueSize, int batchSize, Duration flushInterval)
            throws Exception
    {
        if (pdp == null) {
            pdp = new FakePdp();
        }
        client = PdpClient.connect(VeilAuditConfig.fromProperties(Map.of(
                "veil.pdp.address", pdp.address(),
                "veil.pdp.timeout", "500ms")).connection());
        audit = new QueryAudit(client, veilCatalogs, projects, queueSize, batchSize, flushInterval, Duration.ofMillis(10), Duration.ofMillis(50), Duration.ofSeconds(2)).start();
        return audit;
    }

    @AfterEach
    void stop()
            throws Exception
    {
        if (audit != null) {
            audit.shutdown();
        }
        if (pdp != null) {
            pdp.close();
        }
    }

    @Test
    void aCompletedQueryBecomesARecordFieldByField()
            throws Exception
    {
        start(100, 500, Duration.ofMillis(10));
        projects.note("q1", "fraud-2026");
        audit.queryCompleted(QueryEvents.finished("q1", "SELECT * FROM veil.sales.customers", List.of(VIEW, BACKING)));
        awaitSent(1);

        QueryRecord expected = QueryRecord.newBuilder()
                .setQueryId("q1")
                .setUser("alice")
                .addAllGroups(List.of("a", "b"))
                .setProject("fraud-2026")
                .setCreateUnixMillis(CREATED.toEpochMilli())
                .setExecutionStartUnixMillis(STARTED.toEpochMilli())
                .setEndUnixMillis(ENDED.toEpochMilli())
                .setState("FINISHED")
                .addTables(QueryTable.newBuilder()
                        .setCatalog("veil")
                        .setSchema("sales")
                        .setTable("customers")
                        .setGovernedView(true)
                        .setDirectlyReferenced(true)
                        .addColumns(QueryColumn.newBuilder().setName("custkey"))
                        .addColumns(QueryColumn.newBuilder().setName("name")))
                .addTables(QueryTable.newBuilder()
                        .setCatalog("tpch")
                        .setSchema("tiny")
                        .setTable("customer")
                        .setGovernedView(false)
                        .setDirectlyReferenced(false)
                        .addRowFilters("\"nationkey\" IN (1, 2)")
                        .addRowFilters("\"custkey\" < 1000")
                        .addColumns(QueryColumn.newBuilder().setName("custkey"))
                        .addColumns(QueryColumn.newBuilder().setName("name").setMask("CAST(\"veil\".\"system\".\"hash\"('default', \"name\") AS varchar(25))")))
                .setOutputRows(12)
                .setOutputBytes(1_200)
                .setReadRows(400)
                .setReadBytes(4_000)
                .setQuery("SELECT * FROM veil.sales.customers")
                .build();
        assertEquals(1, pdp.recordRequests.size());
        RecordQueriesRequest request = pdp.recordRequests.getFirst();
        assertEquals(List.of(expected), request.getQueriesList());
        assertEquals(0, request.getDropped());
        // The project was taken, not copied.
        assertEquals("", projects.take("q1"));
    }

    @Test
    void aFailedQueryCarriesItsErrorCodeAndMessageCutAt1KiB()
    {
        String message = "Access Denied: " + "x".repeat(2_000);
        QueryCompletedEvent event = QueryEvents.event("q2", "bob", Set.of(), "SELECT 1 FROM tpch.tiny.customer", "FAILED", List.of(BACKING),
                Optional.of(QueryEvents.failure("PERMISSION_DENIED", message)));
        QueryRecord record = QueryRecords.of(event, "", veilCatalogs);
        assertEquals("FAILED", record.getState());
        assertEquals("PERMISSION_DENIED", record.getErrorCode());
        assertEquals(message.substring(0, 1024), record.getErrorMessage());
        assertEquals("bob", record.getUser());
        assertEquals(List.of(), record.getGroupsList());
        assertEquals("", record.getProject());
        assertFalse(record.getTables(0).getGovernedView());
        assertEquals(List.of(), record.getDataSourcesList());

        QueryRecord finished = QueryRecords.of(QueryEvents.finished("q3", "SELECT 1", List.of(BACKING)), "", veilCatalogs);
        assertEquals("", finished.getErrorCode());
        assertEquals("", finished.getErrorMessage());
    }

    @Test
    void theQueryTextIsCutAt16KiBBetweenCharacters()
    {
        assertEquals(16_384, QueryRecords.of(QueryEvents.finished("q", "s".repeat(20_000), List.of(VIEW)), "", veilCatalogs).getQuery().length());
        String short_ = "SELECT 'é😀'";
        assertEquals(short_, QueryRecords.cut(short_, 16_384));
        // Two bytes each: 8,192 of them fit.
        assertEquals("é".repeat(8_192), QueryRecords.cut("é".repeat(10_000), 16_384));
        // Four bytes each (a surrogate pair): after one ASCII byte, 4,095 fit (16,381 bytes), never half of the next.
        String cut = QueryRecords.cut("a" + "😀".repeat(5_000), 16_384);
        assertEquals("a" + "😀".repeat(4_095), cut);
        assertFalse(Character.isHighSurrogate(cut.charAt(cut.length() - 1)));
        String mixed = QueryRecords.cut("€".repeat(6_000), 16_384);
        assertEquals(5_461, mixed.length());
        assertTrue(mixed.getBytes(StandardCharsets.UTF_8).length <= 16_384);
    }

    @Test
    void aFullBatchGoesAtOnceAndTheRestAtShutdown()
            throws Exception
    {
        // Never flushed by time: only a full batch, or the shutdown, sends.
        start(100, 2, Duration.ofHours(1));
        for (int i = 1; i <= 5; i++) {
            audit.queryCompleted(QueryEvents.finished("q" + i, "SELECT " + i, List.of(BACKING)));
        }
        awaitSent(4);
        assertEquals(List.of(2, 2), pdp.recordRequests.stream().map(RecordQueriesRequest::getQueriesCount).toList());
        assertEquals(1, audit.queued());
        audit.shutdown();
        assertEquals(5, audit.sent());
        assertFalse(audit.running());
        assertEquals(List.of("q1", "q2", "q3", "q4", "q5"), queryIds());
        assertTrue(pdp.recordRequests.stream().allMatch(request -> request.getDropped() == 0));
    }

    @Test
    void aFewQueriesGoWhenTheFlushIntervalHasPassed()
            throws Exception
    {
        start(100, 500, Duration.ofMillis(20));
        audit.queryCompleted(QueryEvents.finished("q1", "SELECT 1", List.of(BACKING)));
        awaitSent(1);
        audit.queryCompleted(QueryEvents.finished("q2", "SELECT 2", List.of(BACKING)));
        awaitSent(2);
        assertEquals(List.of("q1", "q2"), queryIds());
        assertEquals(0, audit.dropped());
        assertEquals(0, audit.failedCalls());
    }

    @Test
    @Timeout(30) // a queryCompleted that blocked would hang here, not pass
    void withThePdpDownQueriesWaitUpToTheBoundAndGoWithTheDroppedCountOnceItIsBack()
            throws Exception
    {
        pdp = new FakePdp();
        int port = pdp.port();
        pdp.close();
        start(3, 2, Duration.ofMillis(10));
        // Classes loaded, so that only queueing is timed.
        QueryRecords.of(QueryEvents.finished("q0", "SELECT 0", List.of(BACKING)), "", veilCatalogs);

        long startedAt = System.nanoTime();
        for (int i = 1; i <= 5; i++) {
            audit.queryCompleted(QueryEvents.finished("q" + i, "SELECT " + i, List.of(BACKING)));
        }
        long tookMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startedAt);
        // Nothing waited for the PDP (a call alone may take its 500ms timeout).
        assertTrue(tookMillis < 400, "queryCompleted took " + tookMillis + "ms");
        assertEquals(2, audit.dropped());
        assertEquals(3, audit.queued());
        await(() -> audit.failedCalls() >= 2, "retries while the PDP is down");
        assertEquals(0, audit.sent());
        // Still bounded while it retries.
        audit.queryCompleted(QueryEvents.finished("q6", "SELECT 6", List.of(BACKING)));
        assertEquals(3, audit.dropped());

        pdp = new FakePdp(port);
        awaitSent(3);
        assertEquals(List.of("q1", "q2", "q3"), queryIds());
        assertEquals(3, pdp.recordRequests.getFirst().getDropped());
        assertTrue(pdp.recordRequests.stream().skip(1).allMatch(request -> request.getDropped() == 0));
        assertEquals(0, audit.queued());
    }

    @Test
    void aBatchThePdpRefusesAsMalformedIsDroppedAndReportedEvenWithNothingElseToSend()
            throws Exception
    {
        pdp = new FakePdp();
        pdp.recordFailure = Status.INVALID_ARGUMENT.withDescription("bad record");
        start(100, 500, Duration.ofMillis(10));
        audit.queryCompleted(QueryEvents.finished("q1", "SELECT 1", List.of(BACKING)));
        await(() -> audit.dropped() == 1, "the refused batch dropped");
        assertEquals(0, audit.queued());
        pdp.recordFailure = null;
        // Nothing is queued, but the drop is reported all the same.
        await(() -> pdp.recordRequests.size() == 1, "the drop reported");
        assertEquals(0, pdp.recordRequests.getFirst().getQueriesCount());
        assertEquals(1, pdp.recordRequests.getFirst().getDropped());
        audit.queryCompleted(QueryEvents.finished("q2", "SELECT 2", List.of(BACKING)));
        awaitSent(1);
        assertEquals(List.of("q2"), queryIds());
        assertEquals(0, pdp.recordRequests.get(1).getDropped());
    }

    @Test
    void aQueryThatReadNoTableIsNotSentAndLeavesNoProjectBehind()
            throws Exception
    {
        start(100, 500, Duration.ofMillis(10));
        projects.note("q1", "fraud-2026");
        audit.queryCompleted(QueryEvents.finished("q1", "SELECT 1", List.of()));
        assertEquals(0, projects.size());
        audit.queryCompleted(QueryEvents.finished("q2", "SELECT * FROM tpch.tiny.customer", List.of(BACKING)));
        awaitSent(1);
        assertEquals(List.of("q2"), queryIds());
        assertEquals(0, audit.queued());
    }

    @Test
    void aBrokenEventNeverReachesTrino()
            throws Exception
    {
        start(100, 500, Duration.ofMillis(10));
        QueryCompletedEvent good = QueryEvents.finished("q1", "SELECT 1", List.of(BACKING));
        QueryCompletedEvent broken = new QueryCompletedEvent(good.getMetadata(), good.getStatistics(), good.getContext(), good.getIoMetadata(), good.getFailureInfo(), good.getWarnings(),
                good.getCreateTime(), good.getExecutionStartTime(), good.getEndTime())
        {
            @Override
            public QueryContext getContext()
            {
                throw new IllegalStateException("broken");
            }
        };
        audit.queryCompleted(broken);
        assertEquals(1, audit.failedEvents());
        audit.queryCompleted(good);
        awaitSent(1);
    }

    @Test
    void shutdownGivesUpWithinItsDeadlineWhenThePdpIsDown()
            throws Exception
    {
        pdp = new FakePdp();
        pdp.recordFailure = Status.UNAVAILABLE;
        start(100, 500, Duration.ofMillis(10));
        audit.queryCompleted(QueryEvents.finished("q1", "SELECT 1", List.of(BACKING)));
        await(() -> audit.failedCalls() >= 1, "a failed call");
        long startedAt = System.nanoTime();
        audit.shutdown();
        long tookMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startedAt);
        // Its 2s to hand over, then the channel is closed under a call still under way.
        assertTrue(tookMillis < 4_500, "shutdown took " + tookMillis + "ms");
        assertFalse(audit.running());
        assertEquals(0, audit.sent());
        assertEquals(1, audit.queued());
    }

    @Test
    void theFactoryIsNamedVeilAndEnablesTheProjectRegistry()
            throws Exception
    {
        pdp = new FakePdp();
        QueryProjects shared = new QueryProjects();
        VeilEventListenerFactory factory = new VeilEventListenerFactory(veilCatalogs, shared);
        assertEquals("veil", factory.getName());
        shared.note("q0", "p");
        assertEquals(0, shared.size());
        audit = (QueryAudit) factory.create(Map.of("veil.pdp.address", pdp.address()), null);
        shared.note("q1", "p");
        assertEquals("p", shared.take("q1"));
        assertTrue(audit.running());

        VeilEventListenerFactory fromPlugin = (VeilEventListenerFactory) new VeilPlugin().getEventListenerFactories().iterator().next();
        assertEquals("veil", fromPlugin.getName());
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> fromPlugin.create(Map.of("veil.pdp.address", pdp.address(), "veil.audit.batch-sise", "10"), null));
        assertEquals("Veil: invalid event listener configuration: unknown property `veil.audit.batch-sise`", error.getMessage());
    }

    // --- helpers

    private List<String> queryIds()
    {
        return pdp.recordRequests.stream()
                .flatMap(request -> request.getQueriesList().stream())
                .map(QueryRecord::getQueryId)
                .toList();
    }

    private void awaitSent(long count)
            throws InterruptedException
    {
        await(() -> audit.sent() >= count, count + " queries sent");
        assertEquals(count, audit.sent());
    }

    private static void await(BooleanSupplier condition, String what)
            throws InterruptedException
    {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not within 10s: " + what);
            }
            Thread.sleep(5);
        }
    }
}
