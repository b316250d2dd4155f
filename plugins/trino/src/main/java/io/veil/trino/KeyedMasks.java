package io.veil.trino;

import io.airlift.slice.Slice;
import io.airlift.slice.Slices;
import io.trino.spi.TrinoException;

import java.util.HashMap;
import java.util.Map;
import java.util.function.Function;

/**
 * What the keyed mask functions ({@link HashMaskFunction}, {@link FpeMaskFunction},
 * {@link ReversibleMaskFunction}, {@link UniformMaskFunction}) share: their per-key state built once
 * when the catalog's key ring loads, looked up by the key id a row carries, and the one error an
 * unknown id gives.
 */
final class KeyedMasks
{
    private KeyedMasks() {}

    /**
     * {@code make} applied to every configured key, by the id's UTF-8 bytes, so a row's key id is
     * looked up without decoding it. Each call gets its own copy of the key bytes.
     */
    static <T> Map<Slice, T> byKeyId(MaskKeys keys, Function<byte[], T> make)
    {
        Map<Slice, T> state = new HashMap<>();
        for (String id : keys.ids()) {
            state.put(Slices.utf8Slice(id), make.apply(keys.key(id).orElseThrow()));
        }
        return Map.copyOf(state);
    }

    /** The query failure for a key id the catalog has no key for; it names the id only when it is well-formed. */
    static TrinoException unknownKey(String catalogName, Slice keyId)
    {
        String id = keyId.toStringUtf8();
        // Only a well-formed id is echoed; anything else could be arbitrary data passed as an id.
        if (MaskKeys.KEY_ID.matcher(id).matches()) {
            return new TrinoException(VeilErrorCode.VEIL_MASK_KEY_UNKNOWN, "Veil: no mask key `%s` is configured in catalog `%s`".formatted(id, catalogName));
        }
        return new TrinoException(VeilErrorCode.VEIL_MASK_KEY_UNKNOWN, "Veil: no mask key is configured in catalog `%s` for that key id; ids match %s".formatted(catalogName, MaskKeys.KEY_ID.pattern()));
    }
}
