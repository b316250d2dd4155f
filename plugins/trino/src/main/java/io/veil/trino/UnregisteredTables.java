package io.veil.trino;

import java.util.Locale;
import java.util.Optional;

/**
 * What the system access control does with a table of a governed catalog that no data source governs
 * ({@code veil.unregistered-tables}).
 */
public enum UnregisteredTables
{
    /** The table reads as absent and cannot be written: nothing Veil does not know about is readable. */
    DENY,
    /** The table is passed through untouched, for a gradual roll-out. */
    ALLOW;

    static Optional<UnregisteredTables> parse(String text)
    {
        return switch (text.trim().toLowerCase(Locale.ENGLISH)) {
            case "deny" -> Optional.of(DENY);
            case "allow" -> Optional.of(ALLOW);
            default -> Optional.empty();
        };
    }
}
