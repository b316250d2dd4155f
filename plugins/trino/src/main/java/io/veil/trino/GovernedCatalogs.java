package io.veil.trino;

import java.util.Locale;
import java.util.Optional;
import java.util.Set;

import static java.util.Objects.requireNonNull;

/**
 * Which Trino catalogs' tables the system access control may govern: the configured list
 * ({@code veil.governed-catalogs}), or by default every catalog but {@code system}. The catalogs of the
 * {@code veil} connector are never governed here, listed or not: the PDP already decides every one of
 * their views. A catalog it does not govern is passed through untouched.
 */
public final class GovernedCatalogs
{
    static final String SYSTEM = "system";

    private final Optional<Set<String>> configured;
    private final VeilCatalogs veilCatalogs;

    public GovernedCatalogs(Optional<Set<String>> configured, VeilCatalogs veilCatalogs)
    {
        this.configured = requireNonNull(configured, "configured is null").map(Set::copyOf);
        this.veilCatalogs = requireNonNull(veilCatalogs, "veilCatalogs is null");
    }

    public boolean governs(String catalogName)
    {
        String name = catalogName.toLowerCase(Locale.ENGLISH);
        if (veilCatalogs.contains(name)) {
            return false;
        }
        return configured.map(names -> names.contains(name)).orElse(!name.equals(SYSTEM));
    }

    /** Whether the catalog is one of the {@code veil} connector's, whose keyed functions only the run-as user may call. */
    public boolean isVeilCatalog(String catalogName)
    {
        return veilCatalogs.contains(catalogName);
    }
}
