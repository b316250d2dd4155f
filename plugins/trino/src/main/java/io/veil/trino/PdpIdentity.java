package io.veil.trino;

import io.trino.spi.connector.ConnectorSession;

import java.util.List;

import static java.util.Objects.requireNonNull;

/**
 * The identity the plugin sends to the PDP: the Trino session user, their Trino groups and the
 * project from the catalog session property {@code project} (empty when unset).
 *
 * @param groups sorted, so that equal sets compare equal
 */
public record PdpIdentity(String user, List<String> groups, String project)
{
    public PdpIdentity
    {
        requireNonNull(user, "user is null");
        groups = groups.stream().sorted().toList();
        requireNonNull(project, "project is null");
    }

    public static PdpIdentity of(ConnectorSession session)
    {
        String project = session.getProperty(VeilSessionProperties.PROJECT, String.class);
        return new PdpIdentity(
                session.getIdentity().getUser(),
                List.copyOf(session.getIdentity().getGroups()),
                project == null ? "" : project);
    }
}
