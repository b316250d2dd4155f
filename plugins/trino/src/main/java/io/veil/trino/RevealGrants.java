package io.veil.trino;

import com.google.common.base.Ticker;
import com.google.common.cache.Cache;
import com.google.common.cache.CacheBuilder;
import io.airlift.slice.Slice;
import io.airlift.slice.Slices;
import io.trino.spi.TrinoException;
import io.trino.spi.connector.ConnectorSession;
import io.trino.spi.security.AccessDeniedException;
import veil.v1.Decision.AuthorizeRevealResponse;

import java.time.Duration;

import static io.veil.trino.VeilErrorCode.VEIL_PDP_UNAVAILABLE;
import static java.util.Objects.requireNonNull;

/**
 * The PDP's answers to {@code AuthorizeReveal} on this node, per query, user, data source and column:
 * the first value {@code reveal} opens for them asks, the others reuse the answer, so a query that
 * reveals a million values asks once per node. Two values that arrive together may both ask.
 *
 * <p>A refusal is kept like a grant, for the query. A PDP that cannot be reached, fails, or gives an
 * answer that allows without naming a policy is no answer: it fails the value (the query fails
 * closed) and is not kept, so a later query asks again. Bounded: at most {@link #MAX_ENTRIES}
 * answers, each kept {@link #EXPIRY} after it was given.
 */
final class RevealGrants
{
    static final long MAX_ENTRIES = 10_000;
    static final Duration EXPIRY = Duration.ofMinutes(15);
    /** The most characters of a data source or column name an error shows. */
    private static final int ECHOED_NAME = 128;

    /** Whose answer: the query and its user, and what they asked about, as the call names it. */
    private record Key(String queryId, String user, String dataSource, String column) {}

    /** What the PDP answered for one key. */
    sealed interface Grant
            permits Allowed, Refused {}

    /**
     * The user may open tokens of {@code policy}; {@code count} is where the values they open are
     * counted (the data source as the PDP resolved it).
     */
    record Allowed(Slice policy, RevealReporter.Key count)
            implements Grant
    {
        Allowed
        {
            requireNonNull(policy, "policy is null");
            requireNonNull(count, "count is null");
        }
    }

    /** The user may not; {@code message} says so, with the PDP's reason. */
    record Refused(String message)
            implements Grant
    {
        Refused
        {
            requireNonNull(message, "message is null");
        }
    }

    private final RevealPdp pdp;
    private final Cache<Key, Grant> grants;

    RevealGrants(RevealPdp pdp)
    {
        this(pdp, MAX_ENTRIES, EXPIRY, Ticker.systemTicker());
    }

    RevealGrants(RevealPdp pdp, long maxEntries, Duration expiry, Ticker ticker)
    {
        this.pdp = requireNonNull(pdp, "pdp is null");
        this.grants = CacheBuilder.newBuilder()
                .maximumSize(maxEntries)
                .expireAfterWrite(expiry)
                .ticker(requireNonNull(ticker, "ticker is null"))
                .build();
    }

    /**
     * The policy the session's user may open this column's tokens under.
     *
     * @throws AccessDeniedException when the PDP refused (now or earlier in the query)
     * @throws TrinoException when the PDP cannot be reached, fails, or answers without a policy
     */
    Allowed check(ConnectorSession session, String dataSource, String column)
    {
        Key key = new Key(session.getQueryId(), session.getUser(), dataSource, column);
        Grant grant = grants.getIfPresent(key);
        if (grant == null) {
            grant = ask(session, key);
            grants.put(key, grant);
        }
        return switch (grant) {
            case Allowed allowed -> allowed;
            case Refused refused -> throw new AccessDeniedException(refused.message());
        };
    }

    private Grant ask(ConnectorSession session, Key key)
    {
        PdpIdentity identity = PdpIdentity.ofFunctionCall(session);
        // Throws when the PDP cannot answer: nothing is kept.
        AuthorizeRevealResponse response = pdp.authorizeReveal(identity, key.queryId(), key.dataSource(), key.column());
        if (!response.getAllowed()) {
            String reason = response.getReason().isBlank() ? "the policy decision point gave no reason" : response.getReason();
            return new Refused("Veil: cannot reveal %s.%s: %s".formatted(echo(key.dataSource()), echo(key.column()), reason));
        }
        if (response.getPolicy().isEmpty()) {
            throw new TrinoException(VEIL_PDP_UNAVAILABLE, "Veil: the policy decision point at %s allowed revealing %s.%s but named no policy; failing closed".formatted(
                    pdp.address(), echo(key.dataSource()), echo(key.column())));
        }
        String dataSource = response.getDataSource().isEmpty() ? key.dataSource() : response.getDataSource();
        RevealReporter.Key count = new RevealReporter.Key(key.queryId(), key.user(), dataSource, key.column(), response.getPolicy());
        return new Allowed(Slices.utf8Slice(response.getPolicy()), count);
    }

    /** A name the user passed, as an error shows it: at most {@value #ECHOED_NAME} characters. */
    static String echo(String name)
    {
        return name.length() > ECHOED_NAME ? name.substring(0, ECHOED_NAME) + "…" : name;
    }

    /** Answers kept. */
    long size()
    {
        grants.cleanUp();
        return grants.size();
    }
}
