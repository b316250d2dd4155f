package io.veil.trino;

import io.trino.spi.TrinoException;
import io.trino.spi.connector.ConnectorSession;
import io.trino.spi.security.ConnectorIdentity;
import io.trino.spi.type.TimeZoneKey;

import java.time.Instant;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import static io.trino.spi.StandardErrorCode.INVALID_SESSION_PROPERTY;

/**
 * The session Trino 476 hands a function: the query's id and identity (user, groups, extra
 * credentials), and no catalog's session properties ({@code Session.toConnectorSession()}, whose
 * {@code getProperty} fails like this one's). With a project, it carries the Veil catalog's property.
 */
record FunctionSession(String queryId, String user, Set<String> groups, Map<String, String> extraCredentials, Optional<String> project)
        implements ConnectorSession
{
    static FunctionSession of(String queryId, String user)
    {
        return new FunctionSession(queryId, user, Set.of(), Map.of(), Optional.empty());
    }

    @Override
    public String getQueryId()
    {
        return queryId;
    }

    @Override
    public Optional<String> getSource()
    {
        return Optional.empty();
    }

    @Override
    public ConnectorIdentity getIdentity()
    {
        return ConnectorIdentity.forUser(user).withGroups(groups).withExtraCredentials(extraCredentials).build();
    }

    @Override
    public TimeZoneKey getTimeZoneKey()
    {
        return TimeZoneKey.UTC_KEY;
    }

    @Override
    public Locale getLocale()
    {
        return Locale.ENGLISH;
    }

    @Override
    public Optional<String> getTraceToken()
    {
        return Optional.empty();
    }

    @Override
    public Instant getStart()
    {
        return Instant.EPOCH;
    }

    @Override
    public <T> T getProperty(String name, Class<T> type)
    {
        if (project.isEmpty() || !name.equals(VeilSessionProperties.PROJECT)) {
            // What Trino's FullConnectorSession says without a catalog.
            throw new TrinoException(INVALID_SESSION_PROPERTY, "Session property 'null.%s' does not exist".formatted(name));
        }
        return type.cast(project.get());
    }
}
