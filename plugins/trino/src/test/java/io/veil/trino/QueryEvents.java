package io.veil.trino;

import io.trino.spi.ErrorCode;
import io.trino.spi.ErrorType;
import io.trino.spi.eventlistener.QueryCompletedEvent;
import io.trino.spi.eventlistener.QueryContext;
import io.trino.spi.eventlistener.QueryFailureInfo;
import io.trino.spi.eventlistener.QueryIOMetadata;
import io.trino.spi.eventlistener.QueryMetadata;
import io.trino.spi.eventlistener.QueryStatistics;
import io.trino.spi.eventlistener.TableInfo;
import io.trino.spi.session.ResourceEstimates;

import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/** Trino's completion events, built with the SPI's own constructors. */
final class QueryEvents
{
    static final Instant CREATED = Instant.parse("2026-03-01T10:00:00.123Z");
    static final Instant STARTED = Instant.parse("2026-03-01T10:00:00.456Z");
    static final Instant ENDED = Instant.parse("2026-03-01T10:00:02.789Z");

    private QueryEvents() {}

    /** A finished query by `alice` (groups `b`, `a`) reading the given tables. */
    static QueryCompletedEvent finished(String queryId, String query, List<TableInfo> tables)
    {
        return event(queryId, "alice", Set.of("b", "a"), query, "FINISHED", tables, Optional.empty());
    }

    static QueryCompletedEvent event(String queryId, String user, Set<String> groups, String query, String state, List<TableInfo> tables, Optional<QueryFailureInfo> failure)
    {
        QueryMetadata metadata = new QueryMetadata(
                queryId,
                Optional.empty(),
                Optional.empty(),
                query,
                Optional.empty(),
                Optional.empty(),
                state,
                tables,
                List.of(),
                URI.create("http://coordinator:8080/v1/query/" + queryId),
                Optional.empty(),
                Optional.empty(),
                Optional.empty());
        QueryStatistics statistics = new QueryStatistics(
                Duration.ofMillis(10), Duration.ZERO, Duration.ofMillis(20), Duration.ZERO,
                Optional.empty(), Optional.empty(), Optional.empty(), Optional.empty(), Optional.empty(), Optional.empty(),
                Optional.empty(), Optional.empty(), Optional.empty(), Optional.empty(), Optional.empty(), Optional.empty(), Optional.empty(),
                1,  // peakUserMemoryBytes
                2,  // peakTaskUserMemory
                3,  // peakTaskTotalMemory
                4_000, // physicalInputBytes
                400,   // physicalInputRows
                5,  // processedInputBytes
                6,  // processedInputRows
                7,  // internalNetworkBytes
                8,  // internalNetworkRows
                9,  // totalBytes
                10, // totalRows
                1_200, // outputBytes
                12,    // outputRows
                13, // writtenBytes
                14, // writtenRows
                15, // spilledBytes
                0.0, 0.0,
                List.of(), 0, true, List.of(), List.of(), List.of(), List.of(), List.of(), List.of(), List.of(), Optional.empty());
        QueryContext context = new QueryContext(
                user,
                user,
                Set.of(),
                Optional.empty(),
                Set.of(),
                groups,
                Optional.empty(),
                Optional.empty(),
                Optional.empty(),
                Optional.empty(),
                Set.of(),
                Set.of(),
                Optional.empty(),
                "UTC",
                Optional.empty(),
                Optional.empty(),
                Optional.empty(),
                Map.of(),
                new ResourceEstimates(Optional.empty(), Optional.empty(), Optional.empty()),
                "127.0.0.1",
                "476",
                "test",
                Optional.empty(),
                "NONE");
        return new QueryCompletedEvent(
                metadata,
                statistics,
                context,
                new QueryIOMetadata(List.of(), Optional.empty()),
                failure,
                List.of(),
                CREATED,
                STARTED,
                ENDED);
    }

    static QueryFailureInfo failure(String errorName, String message)
    {
        return new QueryFailureInfo(
                new ErrorCode(1, errorName, ErrorType.USER_ERROR),
                Optional.of("io.trino.spi.TrinoException"),
                Optional.of(message),
                Optional.empty(),
                Optional.empty(),
                "{}");
    }

    static TableInfo table(String catalog, String schema, String table, boolean directlyReferenced, List<String> filters, List<io.trino.spi.eventlistener.ColumnInfo> columns)
    {
        return new TableInfo(catalog, schema, table, "veil_admin", filters, columns, directlyReferenced, Optional.empty(), List.of());
    }
}
