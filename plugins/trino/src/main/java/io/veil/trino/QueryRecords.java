package io.veil.trino;

import io.trino.spi.eventlistener.ColumnInfo;
import io.trino.spi.eventlistener.QueryCompletedEvent;
import io.trino.spi.eventlistener.QueryFailureInfo;
import io.trino.spi.eventlistener.QueryStatistics;
import io.trino.spi.eventlistener.TableInfo;
import veil.v1.Decision.QueryColumn;
import veil.v1.Decision.QueryRecord;
import veil.v1.Decision.QueryTable;

import java.time.Instant;
import java.util.Optional;

/**
 * A completed Trino query as the PDP's query audit records it ({@code veil.v1.QueryRecord}). The data
 * sources are left for the PDP to fill in.
 */
final class QueryRecords
{
    /** The query text is cut to at most this many bytes of UTF-8. */
    static final int MAX_QUERY_BYTES = 16 * 1024;
    /** The failure message is cut to at most this many bytes of UTF-8. */
    static final int MAX_ERROR_BYTES = 1024;

    private QueryRecords() {}

    /**
     * @param project the project the query acted under, as the plugin noted it ({@link QueryProjects})
     * @param veilCatalogs the catalogs of the {@code veil} connector, whose tables are governed views
     */
    static QueryRecord of(QueryCompletedEvent event, String project, VeilCatalogs veilCatalogs)
    {
        QueryStatistics statistics = event.getStatistics();
        QueryRecord.Builder record = QueryRecord.newBuilder()
                .setQueryId(event.getMetadata().getQueryId())
                .setUser(event.getContext().getUser())
                .addAllGroups(event.getContext().getGroups().stream().sorted().toList())
                .setProject(project)
                .setCreateUnixMillis(millis(event.getCreateTime()))
                .setExecutionStartUnixMillis(millis(event.getExecutionStartTime()))
                .setEndUnixMillis(millis(event.getEndTime()))
                .setState(event.getMetadata().getQueryState())
                .setOutputRows(unsigned(statistics.getOutputRows()))
                .setOutputBytes(unsigned(statistics.getOutputBytes()))
                .setReadRows(unsigned(statistics.getPhysicalInputRows()))
                .setReadBytes(unsigned(statistics.getPhysicalInputBytes()))
                .setQuery(cut(event.getMetadata().getQuery(), MAX_QUERY_BYTES));
        Optional<QueryFailureInfo> failure = event.getFailureInfo();
        if (failure.isPresent()) {
            record.setErrorCode(failure.get().getErrorCode().getName());
            record.setErrorMessage(cut(failure.get().getFailureMessage().orElse(""), MAX_ERROR_BYTES));
        }
        for (TableInfo table : event.getMetadata().getTables()) {
            QueryTable.Builder queried = QueryTable.newBuilder()
                    .setCatalog(table.getCatalog())
                    .setSchema(table.getSchema())
                    .setTable(table.getTable())
                    .setGovernedView(veilCatalogs.contains(table.getCatalog()))
                    .setDirectlyReferenced(table.isDirectlyReferenced())
                    .addAllRowFilters(table.getFilters());
            for (ColumnInfo column : table.getColumns()) {
                queried.addColumns(QueryColumn.newBuilder()
                        .setName(column.getColumn())
                        .setMask(column.getMask().orElse("")));
            }
            record.addTables(queried);
        }
        return record.build();
    }

    /**
     * The longest prefix of {@code text} whose UTF-8 encoding has at most {@code maxBytes} bytes, cut
     * between code points (never inside a surrogate pair).
     */
    static String cut(String text, int maxBytes)
    {
        // No UTF-16 unit takes more than 3 bytes of UTF-8 (a pair of them takes 4).
        if ((long) text.length() * 3 <= maxBytes) {
            return text;
        }
        int bytes = 0;
        for (int i = 0; i < text.length(); ) {
            int codePoint = text.codePointAt(i);
            // An unpaired surrogate is counted as 3 bytes; protobuf encodes it as one `?`.
            int length = codePoint < 0x80 ? 1 : codePoint < 0x800 ? 2 : codePoint < 0x10000 ? 3 : 4;
            if (bytes + length > maxBytes) {
                return text.substring(0, i);
            }
            bytes += length;
            i += Character.charCount(codePoint);
        }
        return text;
    }

    private static long millis(Instant instant)
    {
        return instant == null ? 0 : instant.toEpochMilli();
    }

    private static long unsigned(long value)
    {
        return Math.max(0, value);
    }
}
