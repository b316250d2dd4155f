package io.veil.trino;

import io.trino.spi.TrinoException;
import io.trino.spi.connector.ConnectorSession;
import io.trino.spi.security.Identity;

import java.util.List;
import java.util.Map;

import static io.trino.spi.StandardErrorCode.INVALID_SESSION_PROPERTY;
import static java.util.Objects.requireNonNull;

/**
 * The identity the plugin sends to the PDP: the Trino session user, their Trino groups and the
 * project they act under (empty for none). The project comes from the extra credential
 * {@code veil.project}, which the access control and the governed catalog both see, or, in the
 * governed catalog only, from its session property {@code project}; the two must not disagree.
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

    /** The extra credential that names the project: {@code --extra-credential veil.project=fraud-2026}. */
    public static final String PROJECT_CREDENTIAL = "veil.project";

    /** The identity of a query on the governed catalog. */
    public static PdpIdentity of(ConnectorSession session)
    {
        return of(session, session.getProperty(VeilSessionProperties.PROJECT, String.class));
    }

    /**
     * The identity of a call of one of the catalog's functions ({@code reveal}). Trino 476 hands a
     * function the query's session without any catalog's session properties
     * ({@code Session.toConnectorSession()}, whose {@code getProperty} fails), so the project comes
     * from the extra credential, as for the access control; a session that does carry the property
     * is read like the governed catalog's.
     */
    public static PdpIdentity ofFunctionCall(ConnectorSession session)
    {
        String property;
        try {
            property = session.getProperty(VeilSessionProperties.PROJECT, String.class);
        }
        catch (TrinoException | IllegalArgumentException e) {
            // No catalog's properties in this session.
            property = null;
        }
        return of(session, property);
    }

    private static PdpIdentity of(ConnectorSession session, String property)
    {
        String credential = credentialProject(session.getIdentity().getExtraCredentials());
        String project = property == null ? "" : property;
        if (project.isEmpty()) {
            project = credential;
        }
        else if (!credential.isEmpty() && !credential.equals(project)) {
            throw new TrinoException(INVALID_SESSION_PROPERTY, "Veil: the session property `project` (`%s`) and the extra credential `%s` (`%s`) name different projects".formatted(
                    project, PROJECT_CREDENTIAL, credential));
        }
        return new PdpIdentity(session.getIdentity().getUser(), List.copyOf(session.getIdentity().getGroups()), project);
    }

    /** The identity of a query as the system access control sees it. */
    public static PdpIdentity of(Identity identity)
    {
        return new PdpIdentity(identity.getUser(), List.copyOf(identity.getGroups()), credentialProject(identity.getExtraCredentials()));
    }

    private static String credentialProject(Map<String, String> extraCredentials)
    {
        String project = extraCredentials.get(PROJECT_CREDENTIAL);
        return project == null ? "" : project.trim();
    }
}
