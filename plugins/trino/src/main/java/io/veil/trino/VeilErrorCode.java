package io.veil.trino;

import io.trino.spi.ErrorCode;
import io.trino.spi.ErrorCodeSupplier;
import io.trino.spi.ErrorType;

import static io.trino.spi.ErrorType.EXTERNAL;
import static io.trino.spi.ErrorType.USER_ERROR;

/**
 * The Trino error codes the Veil connector reports when the policy decision point cannot give an
 * answer, or when the catalog cannot do what a view the PDP compiled asks of it.
 */
public enum VeilErrorCode
        implements ErrorCodeSupplier
{
    /** The PDP could not be reached or failed; the query fails closed. */
    VEIL_PDP_UNAVAILABLE(0, EXTERNAL),
    /** The PDP refused the request (bad arguments, bad plugin credentials). */
    VEIL_PDP_REJECTED(1, EXTERNAL),
    /** The PDP answered with a view the plugin cannot hand to Trino. */
    VEIL_INVALID_VIEW(2, EXTERNAL),
    /** A keyed mask names a key id this catalog has no key for ({@code veil.mask.keys}). */
    VEIL_MASK_KEY_UNKNOWN(3, EXTERNAL),
    /** {@code decrypt} or {@code reveal} was given something that is not a valid token of {@code encrypt} for the policy (malformed, altered, truncated, of another policy). */
    VEIL_MASK_TOKEN_INVALID(4, USER_ERROR);

    private final ErrorCode errorCode;

    VeilErrorCode(int code, ErrorType type)
    {
        errorCode = new ErrorCode(code + 0x0756_0000, name(), type);
    }

    @Override
    public ErrorCode toErrorCode()
    {
        return errorCode;
    }
}
