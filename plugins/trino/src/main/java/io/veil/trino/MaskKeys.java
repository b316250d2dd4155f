package io.veil.trino;

import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;

import static java.util.Objects.requireNonNull;

/**
 * The keys of a catalog's keyed masks ({@code veil.mask.keys}), by key id. Key material never
 * leaves this class as text: {@link #toString()} names the ids only, and parse errors name the
 * property and the key id or item position, never the key or the raw property value.
 */
public final class MaskKeys
{
    /** The shortest key configuration accepts: 32 bytes, the output length of SHA-256 (RFC 2104, section 3). */
    public static final int MIN_KEY_BYTES = 32;
    /** What a key id looks like; the PDP emits it as a SQL string literal, so it needs no escaping. */
    public static final Pattern KEY_ID = Pattern.compile("[A-Za-z0-9_.-]{1,64}");

    private static final MaskKeys NONE = new MaskKeys(Map.of());

    // INVARIANT: unmodifiable, in configuration order; every array is a private copy of length >= 1.
    private final Map<String, byte[]> keys;

    private MaskKeys(Map<String, byte[]> keys)
    {
        this.keys = Collections.unmodifiableMap(keys);
    }

    public static MaskKeys none()
    {
        return NONE;
    }

    /**
     * Parses {@code ID:HEX[,ID:HEX...]}, whitespace allowed around items, ids and keys; a blank value
     * means no keys. Every problem is added to {@code errors}; what is returned then holds only the
     * valid keys.
     */
    static MaskKeys parse(String property, String text, List<String> errors)
    {
        requireNonNull(property, "property is null");
        if (text == null || text.isBlank()) {
            return NONE;
        }
        Map<String, byte[]> keys = new LinkedHashMap<>();
        String[] items = text.split(",", -1);
        for (int index = 0; index < items.length; index++) {
            String item = items[index].trim();
            int position = index + 1;
            if (item.isEmpty()) {
                errors.add("`%s` item %d is empty".formatted(property, position));
                continue;
            }
            int colon = item.indexOf(':');
            if (colon < 0) {
                errors.add("`%s` item %d must be ID:HEX".formatted(property, position));
                continue;
            }
            String id = item.substring(0, colon).trim();
            if (!KEY_ID.matcher(id).matches()) {
                // Not echoed: a malformed id may be a key pasted in the wrong place.
                errors.add("`%s` item %d has an invalid key id (expected %s)".formatted(property, position, KEY_ID.pattern()));
                continue;
            }
            if (keys.containsKey(id)) {
                errors.add("`%s` has key id `%s` more than once (item %d)".formatted(property, id, position));
                continue;
            }
            Optional<byte[]> key = decodeHex(item.substring(colon + 1).trim());
            if (key.isEmpty()) {
                errors.add("`%s` key `%s` must be an even number of hex digits".formatted(property, id));
                continue;
            }
            if (key.get().length < MIN_KEY_BYTES) {
                errors.add("`%s` key `%s` must be at least %d bytes (%d hex digits), got %d bytes".formatted(
                        property, id, MIN_KEY_BYTES, 2 * MIN_KEY_BYTES, key.get().length));
                continue;
            }
            keys.put(id, key.get());
        }
        return keys.isEmpty() ? NONE : new MaskKeys(keys);
    }

    /** The configured key ids, in configuration order. */
    public Set<String> ids()
    {
        return keys.keySet();
    }

    /** A copy of the key with this id. */
    Optional<byte[]> key(String id)
    {
        return Optional.ofNullable(keys.get(id)).map(byte[]::clone);
    }

    private static Optional<byte[]> decodeHex(String hex)
    {
        if (hex.isEmpty() || hex.length() % 2 != 0) {
            return Optional.empty();
        }
        byte[] bytes = new byte[hex.length() / 2];
        for (int i = 0; i < bytes.length; i++) {
            int high = hexDigit(hex.charAt(2 * i));
            int low = hexDigit(hex.charAt(2 * i + 1));
            if (high < 0 || low < 0) {
                return Optional.empty();
            }
            bytes[i] = (byte) ((high << 4) | low);
        }
        return Optional.of(bytes);
    }

    // ASCII only: Character.digit would also accept non-ASCII digits.
    private static int hexDigit(char c)
    {
        if (c >= '0' && c <= '9') {
            return c - '0';
        }
        if (c >= 'a' && c <= 'f') {
            return c - 'a' + 10;
        }
        if (c >= 'A' && c <= 'F') {
            return c - 'A' + 10;
        }
        return -1;
    }

    @Override
    public boolean equals(Object other)
    {
        if (!(other instanceof MaskKeys that) || !keys.keySet().equals(that.keys.keySet())) {
            return false;
        }
        return keys.entrySet().stream().allMatch(entry -> Arrays.equals(entry.getValue(), that.keys.get(entry.getKey())));
    }

    @Override
    public int hashCode()
    {
        return keys.keySet().hashCode();
    }

    /** The key ids only, never key material. */
    @Override
    public String toString()
    {
        return "MaskKeys" + keys.keySet();
    }
}
