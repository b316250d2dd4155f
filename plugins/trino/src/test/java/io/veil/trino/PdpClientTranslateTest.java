package io.veil.trino;

import io.grpc.Status;
import io.trino.spi.StandardErrorCode;
import io.trino.spi.TrinoException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every gRPC failure becomes a Trino error; only PERMISSION_DENIED passes the PDP's words through
 * unchanged, everything else says it comes from Veil.
 */
class PdpClientTranslateTest
{
    private static final String ADDRESS = "pdp:50051";

    @Test
    void permissionDeniedKeepsThePdpMessage()
    {
        TrinoException error = PdpClient.translate(Status.PERMISSION_DENIED.withDescription("`bob` is not a member of project `p`"), ADDRESS);
        assertEquals(StandardErrorCode.PERMISSION_DENIED.toErrorCode(), error.getErrorCode());
        assertEquals("`bob` is not a member of project `p`", error.getMessage());
    }

    @Test
    void rejectedRequestsSaySo()
    {
        TrinoException invalid = PdpClient.translate(Status.INVALID_ARGUMENT.withDescription("empty user"), ADDRESS);
        assertEquals(VeilErrorCode.VEIL_PDP_REJECTED.toErrorCode(), invalid.getErrorCode());
        assertEquals("Veil: the policy decision point rejected the request: empty user", invalid.getMessage());

        TrinoException unauthenticated = PdpClient.translate(Status.UNAUTHENTICATED.withDescription("bad token"), ADDRESS);
        assertEquals(VeilErrorCode.VEIL_PDP_REJECTED.toErrorCode(), unauthenticated.getErrorCode());
        assertTrue(unauthenticated.getMessage().startsWith("Veil: the policy decision point at pdp:50051 did not accept the plugin's credentials"), unauthenticated.getMessage());
    }

    @Test
    void everythingElseIsUnreachableAndFailsClosed()
    {
        for (Status status : new Status[] {Status.UNAVAILABLE, Status.DEADLINE_EXCEEDED, Status.INTERNAL, Status.UNIMPLEMENTED, Status.UNKNOWN, Status.CANCELLED}) {
            TrinoException error = PdpClient.translate(status, ADDRESS);
            assertEquals(VeilErrorCode.VEIL_PDP_UNAVAILABLE.toErrorCode(), error.getErrorCode());
            assertTrue(error.getMessage().startsWith("Veil: the policy decision point at pdp:50051 is unreachable or failed (" + status.getCode()), error.getMessage());
            assertTrue(error.getMessage().endsWith("failing closed"), error.getMessage());
        }
    }
}
