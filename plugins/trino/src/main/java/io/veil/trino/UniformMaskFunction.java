package io.veil.trino;

import io.airlift.slice.Slice;
import io.trino.spi.function.FunctionMetadata;
import io.trino.spi.function.InvocationConvention;
import io.trino.spi.function.Signature;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.util.Map;

import static io.trino.spi.function.InvocationConvention.InvocationArgumentConvention.NEVER_NULL;
import static io.trino.spi.function.InvocationConvention.InvocationReturnConvention.FAIL_ON_NULL;
import static io.trino.spi.type.DoubleType.DOUBLE;
import static io.trino.spi.type.VarcharType.VARCHAR;
import static java.lang.invoke.MethodType.methodType;
import static java.util.Objects.requireNonNull;

/**
 * The keyed pseudo-random number {@code uniform(key_id varchar, seed varchar) -> double}, in
 * {@code [0, 1)}, deterministic in (key, seed): what masks that add keyed noise draw from, so that
 * the same row gets the same noise in every query and nobody without the key can predict it.
 *
 * <p>The contract, bit for bit (an independent implementation recomputes it): {@code mac =
 * HMAC-SHA256(subkey, UTF-8 bytes of seed)} with {@code subkey = HKDF-SHA256(IKM = the key key_id,
 * salt = none, info = "}{@value #INFO}{@code ", L = 32)} ({@link MaskSubkeys}); the first 8 bytes of
 * {@code mac} as an unsigned big-endian 64-bit integer, shifted right by 11, divided by 2^53. Every
 * result is a multiple of 2^-53, exactly representable as a double.
 *
 * <p>NULL in either argument gives NULL; an id the catalog has no key for fails the query, as for
 * {@code hash}.
 */
final class UniformMaskFunction
{
    static final String NAME = "uniform";
    /** The HKDF info of the HMAC subkey. */
    static final String INFO = "veil/uniform/v1";
    static final FunctionMetadata METADATA = FunctionMetadata.scalarBuilder(NAME)
            .signature(Signature.builder()
                    .returnType(DOUBLE)
                    .argumentType(VARCHAR)
                    .argumentType(VARCHAR)
                    .build())
            .description("Deterministic pseudo-random double in [0, 1) from HMAC-SHA256 of seed (UTF-8) under the catalog's mask key key_id: uniform(key_id, seed)")
            .build();
    static final InvocationConvention CONVENTION = InvocationConvention.simpleConvention(FAIL_ON_NULL, NEVER_NULL, NEVER_NULL);

    private static final MethodHandle UNIFORM;

    static {
        try {
            UNIFORM = MethodHandles.lookup().findVirtual(UniformMaskFunction.class, "uniform", methodType(double.class, Slice.class, Slice.class));
        }
        catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final String catalogName;
    private final Map<Slice, HmacSha256> macs;

    UniformMaskFunction(String catalogName, MaskKeys keys)
    {
        this.catalogName = requireNonNull(catalogName, "catalogName is null");
        this.macs = KeyedMasks.byKeyId(keys, key -> new HmacSha256(MaskSubkeys.subkey(key, INFO)));
    }

    /** {@link #uniform} bound to this catalog's keys, in {@link #CONVENTION}. */
    MethodHandle methodHandle()
    {
        return UNIFORM.bindTo(this);
    }

    double uniform(Slice keyId, Slice seed)
    {
        HmacSha256 mac = macs.get(keyId);
        if (mac == null) {
            throw KeyedMasks.unknownKey(catalogName, keyId);
        }
        return toUnitInterval(mac.mac(seed.byteArray(), seed.byteArrayOffset(), seed.length()));
    }

    /** The first 8 bytes, unsigned big-endian, shifted right by 11, divided by 2^53. */
    static double toUnitInterval(byte[] mac)
    {
        long bits = 0;
        for (int i = 0; i < Long.BYTES; i++) {
            bits = (bits << 8) | (mac[i] & 0xFF);
        }
        return (bits >>> 11) * 0x1.0p-53;
    }
}
