package io.veil.trino;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import static java.util.Objects.requireNonNull;

/**
 * The properties of the Veil system access control ({@code etc/access-control.properties} with
 * {@code access-control.name=veil}): the PDP connection, run-as user and cache exactly as a Veil
 * catalog has them ({@link VeilConfig}, without the catalog-only mask keys), plus what to do with
 * unregistered tables and which catalogs Veil governs. Unknown properties are rejected.
 *
 * @param governedCatalogs the catalogs whose tables Veil may govern; empty means every catalog but
 * {@code system} and the catalogs of the {@code veil} connector
 */
public record VeilAccessConfig(VeilConfig connection, UnregisteredTables unregisteredTables, Optional<Set<String>> governedCatalogs)
{
    public static final String UNREGISTERED_TABLES = "veil.unregistered-tables";
    public static final String GOVERNED_CATALOGS = "veil.governed-catalogs";

    public VeilAccessConfig
    {
        requireNonNull(connection, "connection is null");
        requireNonNull(unregisteredTables, "unregisteredTables is null");
        governedCatalogs = governedCatalogs.map(Set::copyOf);
    }

    /**
     * Parses the access control's properties; every problem found is reported at once.
     *
     * @throws IllegalArgumentException when a property is unknown, missing or malformed
     */
    public static VeilAccessConfig fromProperties(Map<String, String> properties)
    {
        Map<String, String> remaining = new HashMap<>(properties);
        List<String> errors = new ArrayList<>();

        UnregisteredTables unregistered = UnregisteredTables.DENY;
        String unregisteredText = remaining.remove(UNREGISTERED_TABLES);
        if (unregisteredText != null) {
            Optional<UnregisteredTables> parsed = UnregisteredTables.parse(unregisteredText);
            if (parsed.isEmpty()) {
                errors.add("`%s` must be deny or allow, got `%s`".formatted(UNREGISTERED_TABLES, unregisteredText));
            }
            unregistered = parsed.orElse(UnregisteredTables.DENY);
        }

        Optional<Set<String>> catalogs = Optional.empty();
        String catalogsText = remaining.remove(GOVERNED_CATALOGS);
        if (catalogsText != null) {
            Set<String> names = new LinkedHashSet<>();
            for (String item : catalogsText.split(",", -1)) {
                String name = item.trim().toLowerCase(Locale.ENGLISH);
                if (name.isEmpty()) {
                    errors.add("`%s` must be a comma-separated list of catalog names, got `%s`".formatted(GOVERNED_CATALOGS, catalogsText));
                    break;
                }
                names.add(name);
            }
            catalogs = Optional.of(names);
        }

        if (remaining.containsKey(VeilConfig.MASK_KEYS)) {
            // Named, never echoed: the value is key material.
            remaining.remove(VeilConfig.MASK_KEYS);
            errors.add("`%s` belongs in the Veil catalog's properties, not the access control's".formatted(VeilConfig.MASK_KEYS));
        }
        VeilConfig connection = VeilConfig.parse(remaining, errors, false);
        VeilConfig.rejectUnknown(remaining, errors);
        VeilConfig.throwIfAny("access control", errors);
        return new VeilAccessConfig(connection, unregistered, catalogs);
    }
}
