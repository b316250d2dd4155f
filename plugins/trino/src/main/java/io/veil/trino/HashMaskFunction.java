package io.veil.trino;

import io.airlift.slice.Slice;
import io.airlift.slice.Slices;
import io.trino.spi.function.FunctionMetadata;
import io.trino.spi.function.InvocationConvention;
import io.trino.spi.function.Signature;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.util.Map;

import static io.trino.spi.function.InvocationConvention.InvocationArgumentConvention.NEVER_NULL;
import static io.trino.spi.function.InvocationConvention.InvocationReturnConvention.FAIL_ON_NULL;
import static io.trino.spi.type.VarcharType.VARCHAR;
import static java.lang.invoke.MethodType.methodType;
import static java.util.Objects.requireNonNull;

/**
 * The keyed hash mask {@code hash(key_id varchar, value varchar) -> varchar}: the lowercase hex
 * HMAC-SHA256 of the UTF-8 bytes of {@code value} under the catalog's mask key {@code key_id}. The
 * views the PDP compiles call it as {@code "<catalog>"."system"."hash"('k1', CAST(col AS varchar))},
 * so the SQL carries a key id, never a key. Deterministic; NULL in either argument gives NULL (the
 * SPI's default null-on-null-input); an id the catalog has no key for fails the query.
 */
final class HashMaskFunction
{
    static final String NAME = "hash";
    static final FunctionMetadata METADATA = FunctionMetadata.scalarBuilder(NAME)
            .signature(Signature.builder()
                    .returnType(VARCHAR)
                    .argumentType(VARCHAR)
                    .argumentType(VARCHAR)
                    .build())
            .description("Lowercase hex HMAC-SHA256 of value (UTF-8) under the catalog's mask key key_id: hash(key_id, value)")
            .build();
    /** How {@link #hash} itself is called; Trino's other conventions are adapted from it. */
    static final InvocationConvention CONVENTION = InvocationConvention.simpleConvention(FAIL_ON_NULL, NEVER_NULL, NEVER_NULL);

    private static final MethodHandle HASH;
    private static final byte[] HEX_DIGITS = "0123456789abcdef".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

    static {
        try {
            HASH = MethodHandles.lookup().findVirtual(HashMaskFunction.class, "hash", methodType(Slice.class, Slice.class, Slice.class));
        }
        catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final String catalogName;
    // Keyed by the id's UTF-8 bytes, so a row's key id is looked up without decoding it.
    private final Map<Slice, HmacSha256> macs;

    HashMaskFunction(String catalogName, MaskKeys keys)
    {
        this.catalogName = requireNonNull(catalogName, "catalogName is null");
        this.macs = KeyedMasks.byKeyId(keys, HmacSha256::new);
    }

    /** {@link #hash} bound to this catalog's keys, in {@link #CONVENTION}. */
    MethodHandle methodHandle()
    {
        return HASH.bindTo(this);
    }

    Slice hash(Slice keyId, Slice value)
    {
        HmacSha256 mac = macs.get(keyId);
        if (mac == null) {
            throw KeyedMasks.unknownKey(catalogName, keyId);
        }
        return hex(mac.mac(value.byteArray(), value.byteArrayOffset(), value.length()));
    }

    private static Slice hex(byte[] bytes)
    {
        byte[] text = new byte[2 * bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            text[2 * i] = HEX_DIGITS[(bytes[i] >> 4) & 0xF];
            text[2 * i + 1] = HEX_DIGITS[bytes[i] & 0xF];
        }
        return Slices.wrappedBuffer(text);
    }
}
