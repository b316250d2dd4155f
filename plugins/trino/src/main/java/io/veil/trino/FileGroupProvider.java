package io.veil.trino;

import io.trino.spi.security.GroupProvider;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.LongSupplier;
import java.util.logging.Logger;

import static java.util.Objects.requireNonNull;

/**
 * A small group provider for tests and simple setups ({@code group-provider.name=veil-file}): the
 * groups of each user from a text file in the format of Trino's file group provider, one group a line,
 * {@code group:user1,user2}; blank lines and lines starting with {@code #} are skipped. The file is
 * read again at most once per refresh period when a lookup comes, and its groups replace the old ones
 * when its content changed. A file that cannot be read or parsed stops Trino at startup; later, the
 * last good content stays in use and the problem is logged, so a half-written edit changes nothing.
 */
public final class FileGroupProvider
        implements GroupProvider
{
    private static final Logger log = Logger.getLogger(FileGroupProvider.class.getName());

    private final Path file;
    private final long refreshNanos;
    private final LongSupplier nanoTime;

    // INVARIANT: guarded by this; groups is the parse of content.
    private byte[] content;
    private Map<String, Set<String>> groups;
    private long checkedAt;

    public FileGroupProvider(Path file, Duration refreshPeriod, LongSupplier nanoTime)
    {
        this.file = requireNonNull(file, "file is null");
        this.refreshNanos = refreshPeriod.toNanos();
        this.nanoTime = requireNonNull(nanoTime, "nanoTime is null");
        byte[] initial;
        try {
            initial = Files.readAllBytes(file);
        }
        catch (IOException e) {
            throw new IllegalArgumentException("Veil: cannot read the group file %s: %s".formatted(file, e.getMessage()), e);
        }
        this.content = initial;
        this.groups = parse(file, new String(initial, StandardCharsets.UTF_8));
        this.checkedAt = nanoTime.getAsLong();
    }

    @Override
    public synchronized Set<String> getGroups(String user)
    {
        long now = nanoTime.getAsLong();
        if (now - checkedAt >= refreshNanos) {
            checkedAt = now;
            reload();
        }
        return groups.getOrDefault(user, Set.of());
    }

    private void reload()
    {
        byte[] latest;
        try {
            latest = Files.readAllBytes(file);
        }
        catch (IOException e) {
            log.warning("Veil: cannot read the group file %s, keeping its last content: %s".formatted(file, e.getMessage()));
            return;
        }
        if (Arrays.equals(latest, content)) {
            return;
        }
        try {
            groups = parse(file, new String(latest, StandardCharsets.UTF_8));
            content = latest;
            log.info("Veil: read the changed group file %s".formatted(file));
        }
        catch (IllegalArgumentException e) {
            log.warning(e.getMessage() + "; keeping its last content");
        }
    }

    /**
     * User → groups of the file's text.
     *
     * @throws IllegalArgumentException naming every malformed line
     */
    static Map<String, Set<String>> parse(Path file, String text)
    {
        Map<String, Set<String>> groups = new HashMap<>();
        List<String> errors = new ArrayList<>();
        String[] lines = text.split("\r?\n", -1);
        for (int index = 0; index < lines.length; index++) {
            String line = lines[index].trim();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            int colon = line.indexOf(':');
            String group = colon < 0 ? "" : line.substring(0, colon).trim();
            if (group.isEmpty()) {
                errors.add("line %d must be group:user1,user2".formatted(index + 1));
                continue;
            }
            for (String user : line.substring(colon + 1).split(",")) {
                String name = user.trim();
                if (!name.isEmpty()) {
                    groups.computeIfAbsent(name, _ -> new LinkedHashSet<>()).add(group);
                }
            }
        }
        if (!errors.isEmpty()) {
            throw new IllegalArgumentException("Veil: invalid group file %s: %s".formatted(file, String.join("; ", errors)));
        }
        Map<String, Set<String>> frozen = new HashMap<>();
        groups.forEach((user, names) -> frozen.put(user, Set.copyOf(names)));
        return Map.copyOf(frozen);
    }
}
