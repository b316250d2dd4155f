package io.veil.trino;

import com.google.common.cache.Cache;
import com.google.common.cache.CacheBuilder;
import io.trino.spi.QueryId;
import io.trino.spi.eventlistener.EventListener;
import io.trino.spi.eventlistener.QueryCompletedEvent;

import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.function.Supplier;

/**
 * The PDP's answers as one query saw them. Trino asks the access control about a table several times
 * while it plans one query (masks, filters, the column check, listings); each question is answered
 * from the first answer the query got, so a policy change can never mix two policies within one query
 * (say, an old policy's masks with a new one's filters), and a table costs the query one PDP call even
 * when the shared cache is off. Dropped when Trino reports the query completed (this is the access
 * control's event listener), or at the latest after {@link #IDLE} without use.
 */
public final class QueryAnswers
        implements EventListener
{
    static final Duration IDLE = Duration.ofMinutes(10);
    private static final long MAX_QUERIES = 10_000;

    /** How a listing saw a table. */
    public enum Listed
    {
        VISIBLE, HIDDEN, UNREGISTERED;

        static Listed of(TableAccess access)
        {
            if (!access.governed()) {
                return UNREGISTERED;
            }
            return access.visible() ? VISIBLE : HIDDEN;
        }
    }

    /** One query's answers. Keys hold the identity: a definer view's tables are asked about as its owner. */
    public static final class Answers
    {
        private final Map<TableAccessKey, TableAccess> access = new ConcurrentHashMap<>();
        private final Map<TableAccessKey, Listed> listed = new ConcurrentHashMap<>();

        public TableAccess access(TableAccessKey key, Supplier<TableAccess> loader)
        {
            TableAccess known = access.get(key);
            if (known != null) {
                return known;
            }
            // Not computeIfAbsent: the loader calls the PDP, which must not run under the map's lock.
            TableAccess loaded = loader.get();
            TableAccess raced = access.putIfAbsent(key, loaded);
            return raced == null ? loaded : raced;
        }

        /** How the table was listed or answered in this query, if it was. */
        public Optional<Listed> listed(TableAccessKey key)
        {
            TableAccess known = access.get(key);
            if (known != null) {
                return Optional.of(Listed.of(known));
            }
            return Optional.ofNullable(listed.get(key));
        }

        public void list(TableAccessKey key, Listed status)
        {
            listed.putIfAbsent(key, status);
        }
    }

    private final Cache<QueryId, Answers> queries = CacheBuilder.newBuilder()
            .maximumSize(MAX_QUERIES)
            .expireAfterAccess(IDLE)
            .build();

    public Answers of(QueryId queryId)
    {
        try {
            return queries.get(queryId, Answers::new);
        }
        catch (ExecutionException e) {
            throw new IllegalStateException(e);
        }
    }

    public long size()
    {
        queries.cleanUp();
        return queries.size();
    }

    @Override
    public void queryCompleted(QueryCompletedEvent event)
    {
        forget(QueryId.valueOf(event.getMetadata().getQueryId()));
    }

    public void forget(QueryId queryId)
    {
        queries.invalidate(queryId);
    }
}
