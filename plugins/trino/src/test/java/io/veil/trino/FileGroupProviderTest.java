package io.veil.trino;

import io.trino.spi.security.GroupProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The {@code veil-file} group provider: Trino's file format, every bad line reported, the file read
 * again once per refresh period, and a broken edit never replacing good groups.
 */
class FileGroupProviderTest
{
    @TempDir
    Path directory;

    private final AtomicLong nanos = new AtomicLong();

    @Test
    void parsesGroupsPerUser()
    {
        Map<String, Set<String>> groups = FileGroupProvider.parse(Path.of("groups.txt"), """
                # analysts and auditors
                analysts:alice, bob

                auditors : bob,carol,
                admins:
                analysts:dave\r
                """);
        assertEquals(Map.of(
                "alice", Set.of("analysts"),
                "bob", Set.of("analysts", "auditors"),
                "carol", Set.of("auditors"),
                "dave", Set.of("analysts")), groups);
    }

    @Test
    void reportsEveryBadLine()
    {
        String message = assertThrows(IllegalArgumentException.class, () -> FileGroupProvider.parse(Path.of("groups.txt"), "analysts:alice\nalice\n:bob\n")).getMessage();
        assertEquals("Veil: invalid group file groups.txt: line 2 must be group:user1,user2; line 3 must be group:user1,user2", message);
    }

    @Test
    void readsTheFileAgainOncePerRefreshPeriod()
            throws IOException
    {
        Path file = write("analysts:alice\n");
        GroupProvider provider = new FileGroupProvider(file, Duration.ofSeconds(5), nanos::get);
        assertEquals(Set.of("analysts"), provider.getGroups("alice"));
        assertEquals(Set.of(), provider.getGroups("bob"));

        write("analysts:alice,bob\nauditors:alice\n");
        nanos.addAndGet(Duration.ofSeconds(4).toNanos());
        assertEquals(Set.of(), provider.getGroups("bob"));
        nanos.addAndGet(Duration.ofSeconds(1).toNanos());
        assertEquals(Set.of("analysts"), provider.getGroups("bob"));
        assertEquals(Set.of("analysts", "auditors"), provider.getGroups("alice"));
    }

    @Test
    void aBrokenOrMissingFileKeepsTheLastGoodGroups()
            throws IOException
    {
        Path file = write("analysts:alice\n");
        GroupProvider provider = new FileGroupProvider(file, Duration.ofSeconds(1), nanos::get);
        write("analysts alice\n");
        nanos.addAndGet(Duration.ofSeconds(2).toNanos());
        assertEquals(Set.of("analysts"), provider.getGroups("alice"));
        Files.delete(file);
        nanos.addAndGet(Duration.ofSeconds(2).toNanos());
        assertEquals(Set.of("analysts"), provider.getGroups("alice"));
        write("auditors:alice\n");
        nanos.addAndGet(Duration.ofSeconds(2).toNanos());
        assertEquals(Set.of("auditors"), provider.getGroups("alice"));
    }

    @Test
    void theFactoryValidatesItsProperties()
            throws IOException
    {
        FileGroupProviderFactory factory = new FileGroupProviderFactory();
        assertEquals("veil-file", factory.getName());
        Path file = write("analysts:alice\n");
        assertEquals(Set.of("analysts"), factory.create(Map.of("veil.groups.file", file.toString(), "veil.groups.refresh-period", "1s")).getGroups("alice"));

        String message = assertThrows(IllegalArgumentException.class, () -> factory.create(Map.of("veil.groups.refresh-period", "soon", "file.refresh-period", "1s"))).getMessage();
        assertTrue(message.startsWith("Veil: invalid group provider configuration: "), message);
        assertTrue(message.contains("`veil.groups.file` is required"), message);
        assertTrue(message.contains("`veil.groups.refresh-period` must be a duration"), message);
        assertTrue(message.contains("unknown property `file.refresh-period`"), message);

        message = assertThrows(IllegalArgumentException.class, () -> factory.create(Map.of("veil.groups.file", directory.resolve("missing").toString()))).getMessage();
        assertTrue(message.startsWith("Veil: cannot read the group file "), message);
        Path broken = Files.writeString(directory.resolve("broken"), "nocolon\n");
        message = assertThrows(IllegalArgumentException.class, () -> factory.create(Map.of("veil.groups.file", broken.toString()))).getMessage();
        assertTrue(message.contains("line 1 must be group:user1,user2"), message);
    }

    @Test
    void thePluginRegistersAllThree()
    {
        VeilPlugin plugin = new VeilPlugin();
        assertEquals("veil", plugin.getConnectorFactories().iterator().next().getName());
        assertEquals("veil", plugin.getSystemAccessControlFactories().iterator().next().getName());
        assertEquals("veil-file", plugin.getGroupProviderFactories().iterator().next().getName());
    }

    private Path write(String text)
            throws IOException
    {
        return Files.writeString(directory.resolve("groups.txt"), text);
    }
}
