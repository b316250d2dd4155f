package io.veil.trino;

import io.airlift.units.Duration;
import io.trino.spi.security.GroupProvider;
import io.trino.spi.security.GroupProviderFactory;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Creates the {@link FileGroupProvider} for {@code etc/group-provider.properties} with
 * {@code group-provider.name=veil-file}: {@code veil.groups.file} (required) and
 * {@code veil.groups.refresh-period} (default {@code 5s}). Unknown properties are rejected.
 */
public final class FileGroupProviderFactory
        implements GroupProviderFactory
{
    public static final String FILE = "veil.groups.file";
    public static final String REFRESH_PERIOD = "veil.groups.refresh-period";

    @Override
    public String getName()
    {
        return "veil-file";
    }

    @Override
    public GroupProvider create(Map<String, String> config)
    {
        Map<String, String> remaining = new HashMap<>(config);
        List<String> errors = new ArrayList<>();
        String file = remaining.remove(FILE);
        if (file == null || file.isBlank()) {
            errors.add("`%s` is required".formatted(FILE));
        }
        String refreshText = remaining.remove(REFRESH_PERIOD);
        Duration refresh = Duration.valueOf("5s");
        if (refreshText != null) {
            try {
                refresh = Duration.valueOf(refreshText.trim());
            }
            catch (IllegalArgumentException e) {
                errors.add("`%s` must be a duration such as `5s` or `1m`, got `%s`".formatted(REFRESH_PERIOD, refreshText));
            }
        }
        VeilConfig.rejectUnknown(remaining, errors);
        VeilConfig.throwIfAny("group provider", errors);
        return new FileGroupProvider(Path.of(file.trim()), java.time.Duration.ofMillis(refresh.toMillis()), System::nanoTime);
    }
}
