package io.veil.trino;

import com.google.common.base.Ticker;
import com.google.common.cache.Cache;
import com.google.common.cache.CacheBuilder;

import java.time.Duration;

import static java.util.Objects.requireNonNull;

/**
 * The project each running query acts under, for the query audit: Trino's completion event carries no
 * extra credentials and no catalog session properties, so the plugin notes the project wherever it
 * resolves a query's {@link PdpIdentity} (the governed catalog, the access control), and the event
 * listener takes it when the query completes. One instance is shared through {@link VeilPlugin}.
 *
 * <p>Bounded: at most {@link #MAX_QUERIES} queries, each kept {@link #EXPIRY} after it was last noted
 * (a query the listener never hears of, or one that runs longer, then reads as having no project).
 * Nothing is noted until an event listener is created ({@link #enable}), so a cluster without the
 * query audit keeps nothing.
 */
public final class QueryProjects
{
    static final long MAX_QUERIES = 10_000;
    static final Duration EXPIRY = Duration.ofMinutes(10);

    private final Cache<String, String> projects;
    private volatile boolean enabled;

    public QueryProjects()
    {
        this(Ticker.systemTicker());
    }

    QueryProjects(Ticker ticker)
    {
        projects = CacheBuilder.newBuilder()
                .maximumSize(MAX_QUERIES)
                .expireAfterWrite(EXPIRY)
                .ticker(requireNonNull(ticker, "ticker is null"))
                .build();
    }

    /** Starts noting projects: called when the query audit's event listener is created. */
    public void enable()
    {
        enabled = true;
    }

    /** Notes the query's project; an empty query id or project is ignored. Never fails. */
    public void note(String queryId, String project)
    {
        if (!enabled || queryId == null || queryId.isEmpty() || project == null || project.isEmpty()) {
            return;
        }
        projects.put(queryId, project);
    }

    /** The query's project, forgotten from then on; empty when none was noted. */
    public String take(String queryId)
    {
        if (queryId == null) {
            return "";
        }
        String project = projects.asMap().remove(queryId);
        return project == null ? "" : project;
    }

    public long size()
    {
        projects.cleanUp();
        return projects.size();
    }
}
