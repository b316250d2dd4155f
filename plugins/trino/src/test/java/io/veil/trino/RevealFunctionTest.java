package io.veil.trino;

import io.airlift.slice.Slice;
import io.grpc.Status;
import io.trino.spi.StandardErrorCode;
import io.trino.spi.TrinoException;
import io.trino.spi.connector.ConnectorSession;
import io.trino.spi.function.FunctionNullability;
import io.trino.spi.function.InvocationConvention;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import veil.v1.Decision.AuthorizeRevealRequest;
import veil.v1.Decision.AuthorizeRevealResponse;
import veil.v1.Decision.RevealCount;

import java.lang.invoke.MethodHandle;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static io.trino.spi.function.InvocationConvention.InvocationArgumentConvention.BOXED_NULLABLE;
import static io.trino.spi.function.InvocationConvention.InvocationArgumentConvention.NEVER_NULL;
import static io.trino.spi.function.InvocationConvention.InvocationReturnConvention.FAIL_ON_NULL;
import static io.trino.spi.function.InvocationConvention.InvocationReturnConvention.NULLABLE_RETURN;
import static io.trino.spi.function.InvocationConvention.simpleConvention;
import static io.veil.trino.MaskFunctionCalls.K1;
import static io.veil.trino.MaskFunctionCalls.K2;
import static io.veil.trino.MaskFunctionCalls.assertNoKeyIn;
import static io.veil.trino.MaskFunctionCalls.handle;
import static io.veil.trino.MaskFunctionCalls.keys;
import static io.veil.trino.MaskFunctionCalls.text;
import static io.veil.trino.MaskFunctionCalls.utf8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code veil.system.reveal} called the way Trino calls it (the session first, in the convention
 * Trino's compiler asks for), against the scripted PDP over real gRPC: what each answer becomes, how
 * few calls it takes, and the counts each node reports.
 */
class RevealFunctionTest
{
    /** What Trino 476's bytecode compiler asks for: session and instance factory supported. */
    private static final InvocationConvention TRINO = new InvocationConvention(List.of(BOXED_NULLABLE, BOXED_NULLABLE, BOXED_NULLABLE), NULLABLE_RETURN, true, true);
    private static final String POLICY = "tokenize-email";
    /** Alice's grant: the backing table's name resolves to the data source's. */
    private static final AuthorizeRevealResponse ALLOWED = AuthorizeRevealResponse.newBuilder()
            .setAllowed(true)
            .setPolicy(POLICY)
            .setDataSource("support.customers")
            .setPolicyVersion(7)
            .build();

    private FakePdp pdp;
    private PdpClient client;
    private RevealReporter reporter;
    private VeilFunctionProvider provider;
    private MethodHandle reveal;
    private MethodHandle encrypt;

    @BeforeEach
    void start()
            throws Exception
    {
        pdp = new FakePdp();
        pdp.revealAnswers.put("alice|support.customers|email", ALLOWED);
        pdp.revealAnswers.put("alice|memory.crm.customers|email", ALLOWED);
        pdp.revealAnswers.put("alice|support.customers|phone", ALLOWED.toBuilder().setPolicy("tokenize-phone").build());
        pdp.revealAnswers.put("bob|support.customers|email", AuthorizeRevealResponse.newBuilder()
                .setAllowed(false)
                .setReason("no reveal grant on `support.customers`.`email` for `bob`")
                .build());
        client = PdpClient.connect(VeilConfig.fromProperties(Map.of(
                "veil.pdp.address", pdp.address(),
                "veil.pdp.timeout", "1s",
                "veil.pdp.token", "s3cret-token",
                "veil.run-as-user", "veil_admin")));
        reporter = new RevealReporter(client, "node-1", Duration.ofMillis(20), Duration.ofMillis(20), Duration.ofMillis(100), Duration.ofSeconds(3), 1_000).start();
        provider = new VeilFunctionProvider("veil", keys("k1:" + K1 + ", k2:" + K2), new RevealGrants(client), reporter);
        reveal = handle(provider, RevealFunction.METADATA, TRINO);
        encrypt = handle(provider, ReversibleMaskFunction.ENCRYPT_METADATA, simpleConvention(FAIL_ON_NULL, NEVER_NULL, NEVER_NULL, NEVER_NULL));
    }

    @AfterEach
    void stop()
            throws Exception
    {
        reporter.close();
        client.close();
        pdp.close();
    }

    private String token(String keyId, String policy, String value)
            throws Throwable
    {
        return text(encrypt.invoke(utf8(keyId), utf8(policy), utf8(value)));
    }

    private String reveal(ConnectorSession session, String dataSource, String column, String token)
            throws Throwable
    {
        return text(reveal.invoke(session, slice(dataSource), slice(column), slice(token)));
    }

    private static Slice slice(String text)
    {
        return text == null ? null : utf8(text);
    }

    private static ConnectorSession alice(String queryId)
    {
        return FunctionSession.of(queryId, "alice");
    }

    // --- the function

    @Test
    void theMetadataIsANondeterministicNullOnNullScalarThatTakesTheSession()
    {
        var metadata = RevealFunction.METADATA;
        assertEquals("reveal", metadata.getCanonicalName());
        assertEquals("reveal(varchar,varchar,varchar):varchar", metadata.getFunctionId().toString());
        assertEquals(new FunctionNullability(false, List.of(false, false, false)), metadata.getFunctionNullability());
        assertFalse(metadata.isDeterministic());
        assertTrue(RevealFunction.CONVENTION.supportsSession());
        // The handle takes the session first, as Trino's verifyMethodHandleSignature counts it.
        assertEquals(ConnectorSession.class, reveal.type().parameterType(0));
        assertEquals(4, reveal.type().parameterCount());
    }

    @Test
    void aConventionWithoutTheSessionIsRefused()
    {
        TrinoException error = assertThrows(TrinoException.class, () -> handle(provider, RevealFunction.METADATA, simpleConvention(NULLABLE_RETURN, BOXED_NULLABLE, BOXED_NULLABLE, BOXED_NULLABLE)));
        assertEquals(StandardErrorCode.FUNCTION_IMPLEMENTATION_ERROR.toErrorCode(), error.getErrorCode());
    }

    @Test
    void anAllowedRevealGivesTheValueBack()
            throws Throwable
    {
        FunctionSession session = new FunctionSession("q1", "alice", Set.of("support", "analysts"), Map.of("veil.project", "fraud-2026"), Optional.empty());
        for (String value : List.of("alice@example.com", "", "Zoë 😀")) {
            assertEquals(value, reveal(session, "support.customers", "email", token("k1", POLICY, value)));
        }
        // Either key: the token names it.
        assertEquals("bob@example.com", reveal(session, "support.customers", "email", token("k2", POLICY, "bob@example.com")));
        // The caller, as the PDP got it: user, groups, the project of the extra credential, the query.
        AuthorizeRevealRequest request = pdp.revealRequests.getFirst();
        assertEquals("alice", request.getIdentity().getUser());
        assertEquals(List.of("analysts", "support"), request.getIdentity().getGroupsList());
        assertEquals("fraud-2026", request.getIdentity().getProject());
        assertEquals("q1", request.getIdentity().getQueryId());
        assertEquals("support.customers", request.getDataSource());
        assertEquals("email", request.getColumn());
        assertEquals(1, pdp.revealRequests.size());
        // With the plugin's credentials, like every call.
        assertTrue(pdp.authorizations.contains("Bearer s3cret-token"), pdp.authorizations.toString());
    }

    @Test
    void aSessionThatCarriesTheCatalogsProjectActsUnderIt()
            throws Throwable
    {
        FunctionSession session = new FunctionSession("q1", "alice", Set.of(), Map.of(), Optional.of("fraud-2026"));
        assertEquals("alice@example.com", reveal(session, "support.customers", "email", token("k1", POLICY, "alice@example.com")));
        assertEquals("fraud-2026", pdp.revealRequests.getFirst().getIdentity().getProject());
    }

    @Test
    void aRefusalFailsTheQueryWithThePdpsReason()
            throws Throwable
    {
        String token = token("k1", POLICY, "alice@example.com");
        for (int i = 0; i < 3; i++) {
            TrinoException error = assertThrows(TrinoException.class, () -> reveal(FunctionSession.of("q1", "bob"), "support.customers", "email", token));
            assertEquals(StandardErrorCode.PERMISSION_DENIED.toErrorCode(), error.getErrorCode());
            assertEquals("Access Denied: Veil: cannot reveal support.customers.email: no reveal grant on `support.customers`.`email` for `bob`", error.getMessage());
        }
        // The refusal is kept for the query.
        assertEquals(1, pdp.revealRequests.size());
        // Not even a malformed token gets further than the refusal.
        TrinoException error = assertThrows(TrinoException.class, () -> reveal(FunctionSession.of("q1", "bob"), "support.customers", "email", "078-05-1120"));
        assertEquals(StandardErrorCode.PERMISSION_DENIED.toErrorCode(), error.getErrorCode());
        // Anything the PDP knows nothing of is refused too.
        error = assertThrows(TrinoException.class, () -> reveal(alice("q1"), "support.customers", "ssn", token));
        assertEquals("Access Denied: Veil: cannot reveal support.customers.ssn: no reveal grant", error.getMessage());
        assertEquals(0, reporter.sent() + reporter.waiting());
    }

    @Test
    void aProjectTheUserIsNotInFailsTheQuery()
    {
        FunctionSession session = new FunctionSession("q1", "alice", Set.of(), Map.of("veil.project", "forbidden"), Optional.empty());
        TrinoException error = assertThrows(TrinoException.class, () -> reveal(session, "support.customers", "email", token("k1", POLICY, "alice@example.com")));
        assertEquals(StandardErrorCode.PERMISSION_DENIED.toErrorCode(), error.getErrorCode());
        assertEquals("`alice` is not a member of project `forbidden`", error.getMessage());
    }

    @Test
    void aPdpThatIsDownFailsClosedAndIsAskedAgainOnceItIsBack()
            throws Throwable
    {
        String token = token("k1", POLICY, "alice@example.com");
        int port = pdp.port();
        pdp.close();
        for (int i = 0; i < 2; i++) {
            TrinoException error = assertThrows(TrinoException.class, () -> reveal(alice("q1"), "support.customers", "email", token));
            assertEquals(VeilErrorCode.VEIL_PDP_UNAVAILABLE.toErrorCode(), error.getErrorCode());
            assertTrue(error.getMessage().startsWith("Veil: the policy decision point at " + pdp.address() + " is unreachable or failed"), error.getMessage());
            assertTrue(error.getMessage().endsWith("failing closed"), error.getMessage());
            assertFalse(error.getMessage().contains("alice@example.com") || error.getMessage().contains(token), error.getMessage());
        }
        // The failure was not kept: the same query asks again.
        pdp = new FakePdp(port);
        pdp.revealAnswers.put("alice|support.customers|email", ALLOWED);
        assertEquals("alice@example.com", reveal(alice("q1"), "support.customers", "email", token));
        assertEquals(1, pdp.revealRequests.size());
    }

    @Test
    void aPdpThatFailsOrTimesOutFailsClosed()
            throws Throwable
    {
        String token = token("k1", POLICY, "alice@example.com");
        pdp.revealFailure = Status.INTERNAL.withDescription("boom");
        TrinoException error = assertThrows(TrinoException.class, () -> reveal(alice("q1"), "support.customers", "email", token));
        assertEquals(VeilErrorCode.VEIL_PDP_UNAVAILABLE.toErrorCode(), error.getErrorCode());
        assertTrue(error.getMessage().contains("(INTERNAL: boom); failing closed"), error.getMessage());
        pdp.revealFailure = null;
        error = assertThrows(TrinoException.class, () -> reveal(FunctionSession.of("q1", "slow"), "support.customers", "email", token));
        assertEquals(VeilErrorCode.VEIL_PDP_UNAVAILABLE.toErrorCode(), error.getErrorCode());
        assertTrue(error.getMessage().contains("DEADLINE_EXCEEDED"), error.getMessage());
        // A failure is not kept: the PDP is asked again, and answers.
        assertEquals("alice@example.com", reveal(alice("q1"), "support.customers", "email", token));
    }

    @Test
    void anAnswerThatAllowsWithoutAPolicyFailsClosed()
            throws Throwable
    {
        pdp.revealAnswers.put("alice|support.customers|email", AuthorizeRevealResponse.newBuilder().setAllowed(true).setDataSource("support.customers").build());
        String token = token("k1", POLICY, "alice@example.com");
        for (int i = 0; i < 2; i++) {
            TrinoException error = assertThrows(TrinoException.class, () -> reveal(alice("q1"), "support.customers", "email", token));
            assertEquals(VeilErrorCode.VEIL_PDP_UNAVAILABLE.toErrorCode(), error.getErrorCode());
            assertEquals("Veil: the policy decision point at %s allowed revealing support.customers.email but named no policy; failing closed".formatted(pdp.address()), error.getMessage());
        }
        assertEquals(2, pdp.revealRequests.size());
    }

    @Test
    void oneQuestionPerQueryDataSourceAndColumnAcrossManyRows()
            throws Throwable
    {
        String token = token("k1", POLICY, "alice@example.com");
        assertEquals("alice@example.com", reveal(alice("q1"), "support.customers", "email", token));
        ExecutorService threads = Executors.newFixedThreadPool(4);
        try {
            List<Future<?>> rows = new ArrayList<>();
            for (int thread = 0; thread < 4; thread++) {
                rows.add(threads.submit(() -> {
                    for (int row = 0; row < 2_500; row++) {
                        try {
                            assertEquals("alice@example.com", reveal(alice("q1"), "support.customers", "email", token));
                        }
                        catch (Throwable e) {
                            throw new Exception(e);
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> future : rows) {
                future.get(30, TimeUnit.SECONDS);
            }
        }
        finally {
            threads.shutdownNow();
        }
        assertEquals(1, pdp.revealRequests.size());
        // Another column, another query, or another name for the data source: another question.
        reveal(alice("q1"), "support.customers", "phone", token("k1", "tokenize-phone", "555-0100"));
        reveal(alice("q2"), "support.customers", "email", token);
        reveal(alice("q2"), "memory.crm.customers", "email", token);
        reveal(alice("q2"), "memory.crm.customers", "email", token);
        assertEquals(List.of("q1|support.customers|email", "q1|support.customers|phone", "q2|support.customers|email", "q2|memory.crm.customers|email"),
                pdp.revealRequests.stream().map(request -> request.getIdentity().getQueryId() + "|" + request.getDataSource() + "|" + request.getColumn()).toList());
    }

    @Test
    void nullGivesNullWithoutAskingThePdp()
            throws Throwable
    {
        String token = token("k1", POLICY, "alice@example.com");
        assertNull(reveal(alice("q1"), "support.customers", "email", null));
        assertNull(reveal(alice("q1"), null, "email", token));
        assertNull(reveal(alice("q1"), "support.customers", null, token));
        // Even for a user the PDP would refuse.
        assertNull(reveal(FunctionSession.of("q1", "bob"), "support.customers", "email", null));
        assertEquals(0, pdp.revealRequests.size());
        // The never-null convention, as Trino may ask for it, too.
        MethodHandle neverNull = handle(provider, RevealFunction.METADATA, new InvocationConvention(List.of(NEVER_NULL, NEVER_NULL, NEVER_NULL), FAIL_ON_NULL, true, false));
        assertEquals("alice@example.com", text(neverNull.invoke(alice("q1"), utf8("support.customers"), utf8("email"), utf8(token))));
    }

    @Test
    void anEmptyDataSourceOrColumnIsRefusedWithoutAskingThePdp()
    {
        TrinoException error = assertThrows(TrinoException.class, () -> reveal(alice("q1"), "", "email", "v1:k1:x"));
        assertEquals(StandardErrorCode.INVALID_FUNCTION_ARGUMENT.toErrorCode(), error.getErrorCode());
        assertEquals("Veil: reveal needs a data source and a column, and the data source is empty", error.getMessage());
        error = assertThrows(TrinoException.class, () -> reveal(alice("q1"), "support.customers", " ", "v1:k1:x"));
        assertEquals("Veil: reveal needs a data source and a column, and the column is empty", error.getMessage());
        assertEquals(0, pdp.revealRequests.size());
    }

    @Test
    void aTokenOfAnotherPolicyOrAMalformedOneFails()
            throws Throwable
    {
        // Allowed for tokenize-email; the phone policy's tokens, however alike, do not open under it.
        String phone = token("k1", "tokenize-phone", "alice@example.com");
        TrinoException error = assertThrows(TrinoException.class, () -> reveal(alice("q1"), "support.customers", "email", phone));
        assertEquals(VeilErrorCode.VEIL_MASK_TOKEN_INVALID.toErrorCode(), error.getErrorCode());
        assertTrue(error.getMessage().startsWith("Veil: the token `v1:k1:"), error.getMessage());
        assertTrue(error.getMessage().contains("does not verify under mask key `k1` and policy `tokenize-email` of catalog `veil`"), error.getMessage());
        assertFalse(error.getMessage().contains("alice@example.com") || error.getMessage().contains(phone), error.getMessage());
        assertNoKeyIn(error.getMessage());
        // A clear value passed by mistake is not echoed.
        error = assertThrows(TrinoException.class, () -> reveal(alice("q1"), "support.customers", "email", "alice@example.com"));
        assertEquals(VeilErrorCode.VEIL_MASK_TOKEN_INVALID.toErrorCode(), error.getErrorCode());
        assertEquals("Veil: reveal needs a token v1:<key id>:<base64url> as encrypt makes it, and the value is not one: it does not start with `v1:`", error.getMessage());
        // A token under a key the catalog does not have fails like hash.
        String unknown = "v1:k9:" + token("k1", POLICY, "alice").substring(6);
        error = assertThrows(TrinoException.class, () -> reveal(alice("q1"), "support.customers", "email", unknown));
        assertEquals(VeilErrorCode.VEIL_MASK_KEY_UNKNOWN.toErrorCode(), error.getErrorCode());
        // Nothing opened, nothing counted.
        reporter.close();
        assertEquals(0, reporter.sent() + reporter.waiting());
    }

    // --- the counts

    @Test
    void revealedValuesAreCountedPerQueryUserDataSourceColumnAndPolicy()
            throws Throwable
    {
        String email = token("k1", POLICY, "alice@example.com");
        String phone = token("k1", "tokenize-phone", "555-0100");
        for (int i = 0; i < 7; i++) {
            reveal(alice("q1"), "support.customers", "email", email);
        }
        for (int i = 0; i < 3; i++) {
            reveal(alice("q1"), "support.customers", "phone", phone);
        }
        // By the backing table's name: counted under the data source's, as the PDP resolved it.
        for (int i = 0; i < 5; i++) {
            reveal(alice("q2"), "memory.crm.customers", "email", email);
        }
        reveal(alice("q2"), "support.customers", "email", email);
        // NULLs and failures are not values revealed.
        reveal(alice("q1"), "support.customers", "email", null);
        assertThrows(TrinoException.class, () -> reveal(alice("q1"), "support.customers", "email", phone));
        await(() -> reporter.sent() == 16, "16 values reported");
        assertEquals(Map.of(
                        "q1|alice|support.customers|email|tokenize-email|node-1", 7L,
                        "q1|alice|support.customers|phone|tokenize-phone|node-1", 3L,
                        "q2|alice|support.customers|email|tokenize-email|node-1", 6L),
                reported());
    }

    @Test
    void countsSurviveAnOutageAndAreSentWhenThePdpIsBack()
            throws Throwable
    {
        String email = token("k1", POLICY, "alice@example.com");
        pdp.revealRecordFailure = Status.UNAVAILABLE.withDescription("down for maintenance");
        for (int i = 0; i < 10; i++) {
            reveal(alice("q1"), "support.customers", "email", email);
        }
        await(() -> reporter.failedCalls() >= 2, "retries while the PDP is down");
        // More values meanwhile: merged with the unsent ones.
        for (int i = 0; i < 5; i++) {
            reveal(alice("q1"), "support.customers", "email", email);
        }
        reveal(alice("q3"), "support.customers", "email", email);
        await(() -> reporter.waiting() == 2, "both keys waiting");
        assertEquals(0, reporter.sent());
        pdp.revealRecordFailure = null;
        await(() -> reporter.sent() == 16, "16 values reported once the PDP is back");
        assertEquals(Map.of(
                        "q1|alice|support.customers|email|tokenize-email|node-1", 15L,
                        "q3|alice|support.customers|email|tokenize-email|node-1", 1L),
                reported());
        assertEquals(0, reporter.waiting());
    }

    /** Every accepted count, summed per key (`query|user|data source|column|policy|node`). */
    private Map<String, Long> reported()
    {
        Map<String, Long> sums = new TreeMap<>();
        for (var request : pdp.revealRecords) {
            for (RevealCount count : request.getRevealsList()) {
                String key = String.join("|", count.getQueryId(), count.getUser(), count.getDataSource(), count.getColumn(), count.getPolicy(), count.getNode());
                sums.merge(key, count.getValues(), Long::sum);
            }
        }
        return sums;
    }

    static void await(BooleanSupplier condition, String what)
            throws InterruptedException
    {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not within 10s: " + what);
            }
            Thread.sleep(5);
        }
    }
}
