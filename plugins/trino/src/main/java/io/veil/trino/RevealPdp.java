package io.veil.trino;

import veil.v1.Decision.AuthorizeRevealResponse;
import veil.v1.Decision.RecordRevealsRequest;

/**
 * What {@code reveal} asks of the policy decision point: whether a user may open one column's tokens,
 * and how many values each node opened. {@link PdpClient} in a catalog.
 */
interface RevealPdp
{
    /**
     * The PDP's answer; a PDP that cannot be reached or fails throws a
     * {@link io.trino.spi.TrinoException}, never an answer.
     */
    AuthorizeRevealResponse authorizeReveal(PdpIdentity identity, String queryId, String dataSource, String column);

    /**
     * Hands a batch of counts over; how many the PDP recorded.
     *
     * @throws io.grpc.StatusRuntimeException when the call fails
     */
    int recordReveals(RecordRevealsRequest request);

    /** Where the PDP is, for messages. */
    String address();
}
