package io.veil.trino;

import io.grpc.ChannelCredentials;
import io.grpc.ConnectivityState;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.grpc.stub.MetadataUtils;
import io.trino.spi.TrinoException;
import io.trino.spi.connector.CatalogSchemaTableName;
import io.trino.spi.connector.SchemaTableName;
import veil.v1.Decision.AuthorizeRevealRequest;
import veil.v1.Decision.AuthorizeRevealResponse;
import veil.v1.Decision.BackingTable;
import veil.v1.Decision.FilterSchemasRequest;
import veil.v1.Decision.FilterSchemasResponse;
import veil.v1.Decision.FilterTablesRequest;
import veil.v1.Decision.FilterTablesResponse;
import veil.v1.Decision.GetTableAccessRequest;
import veil.v1.Decision.GetTableAccessResponse;
import veil.v1.Decision.GetViewDefinitionRequest;
import veil.v1.Decision.GetViewDefinitionResponse;
import veil.v1.Decision.GetViewDefinitionsRequest;
import veil.v1.Decision.NamedView;
import veil.v1.Decision.Identity;
import veil.v1.Decision.ListSchemasRequest;
import veil.v1.Decision.ListTablesRequest;
import veil.v1.Decision.RecordQueriesRequest;
import veil.v1.Decision.RecordRevealsRequest;
import veil.v1.Decision.TableName;
import veil.v1.PolicyDecisionGrpc;
import veil.v1.PolicyDecisionGrpc.PolicyDecisionBlockingStub;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

import static io.trino.spi.StandardErrorCode.PERMISSION_DENIED;
import static io.veil.trino.VeilErrorCode.VEIL_PDP_REJECTED;
import static io.veil.trino.VeilErrorCode.VEIL_PDP_UNAVAILABLE;
import static java.util.Objects.requireNonNull;

/**
 * The plugin's side of the {@code veil.v1.PolicyDecision} service: one channel to the PDP, a deadline
 * on every call, and the translation of gRPC failures into Trino errors. Anything but a clear answer
 * fails closed.
 */
public final class PdpClient
        implements AutoCloseable, RevealPdp
{
    static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

    private static final long RECONNECT_WAIT_MILLIS = 1_000;

    private final ManagedChannel channel;
    private final PolicyDecisionBlockingStub stub;
    private final String address;
    private final long timeoutMillis;

    public PdpClient(ManagedChannel channel, String address, long timeoutMillis, Optional<String> token)
    {
        this.channel = requireNonNull(channel, "channel is null");
        this.address = requireNonNull(address, "address is null");
        this.timeoutMillis = timeoutMillis;
        PolicyDecisionBlockingStub stub = PolicyDecisionGrpc.newBlockingStub(channel);
        if (token.isPresent()) {
            stub = stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(bearer(token.get())));
        }
        this.stub = stub;
    }

    /** Opens a channel to the configured PDP; connecting is lazy, so a PDP that is down does not stop Trino. */
    public static PdpClient connect(VeilConfig config)
    {
        ChannelCredentials credentials = InsecureChannelCredentials.create();
        if (config.tlsEnabled()) {
            TlsChannelCredentials.Builder tls = TlsChannelCredentials.newBuilder();
            if (config.tlsTrustCertificates().isPresent()) {
                try {
                    tls.trustManager(config.tlsTrustCertificates().get().toFile());
                }
                catch (IOException e) {
                    throw new UncheckedIOException("Veil: cannot read " + VeilConfig.TLS_TRUST_CERTIFICATES, e);
                }
            }
            if (config.tlsClientCertificate().isPresent()) {
                VeilConfig.ClientCertificate client = config.tlsClientCertificate().get();
                try {
                    tls.keyManager(client.certificateChain().toFile(), client.privateKey().toFile());
                }
                catch (IOException e) {
                    throw new UncheckedIOException("Veil: cannot read " + VeilConfig.TLS_CLIENT_CERTIFICATE + " or " + VeilConfig.TLS_CLIENT_KEY, e);
                }
            }
            credentials = tls.build();
        }
        ManagedChannel channel = Grpc.newChannelBuilder(config.pdpAddress(), credentials)
                .userAgent("veil-trino")
                .build();
        return new PdpClient(channel, config.pdpAddress(), config.pdpTimeout().toMillis(), config.pdpToken());
    }

    static Metadata bearer(String token)
    {
        Metadata headers = new Metadata();
        headers.put(AUTHORIZATION, "Bearer " + token);
        return headers;
    }

    public ManagedChannel channel()
    {
        return channel;
    }

    @Override
    public String address()
    {
        return address;
    }

    public List<String> listSchemas(PdpIdentity identity, String queryId)
    {
        return call(() -> stub()
                .listSchemas(ListSchemasRequest.newBuilder().setIdentity(toProto(identity, queryId)).build())
                .getSchemasList(), List::of);
    }

    /** The governed tables the user may see, in one schema or in all. */
    public List<SchemaTableName> listTables(PdpIdentity identity, String queryId, Optional<String> schema)
    {
        ListTablesRequest request = ListTablesRequest.newBuilder()
                .setIdentity(toProto(identity, queryId))
                .setSchema(schema.orElse(""))
                .build();
        return call(() -> stub().listTables(request).getTablesList().stream()
                .map(table -> new SchemaTableName(table.getSchema(), table.getTable()))
                .toList(), List::of);
    }

    /** Every view the user gets, in one schema or in all, in one call. */
    public Map<SchemaTableName, GetViewDefinitionResponse> getViewDefinitions(PdpIdentity identity, String queryId, Optional<String> schema)
    {
        GetViewDefinitionsRequest request = GetViewDefinitionsRequest.newBuilder()
                .setIdentity(toProto(identity, queryId))
                .setSchema(schema.orElse(""))
                .build();
        return call(() -> {
            Map<SchemaTableName, GetViewDefinitionResponse> views = new LinkedHashMap<>();
            for (NamedView named : stub().getViewDefinitions(request).getViewsList()) {
                views.put(new SchemaTableName(named.getSchema(), named.getTable()), named.getView());
            }
            return views;
        }, Map::of);
    }

    /** The view the user gets for one governed table; empty when it does not exist or the user may not see it. */
    public Optional<GetViewDefinitionResponse> getViewDefinition(PdpIdentity identity, String queryId, String schema, String table)
    {
        GetViewDefinitionRequest request = GetViewDefinitionRequest.newBuilder()
                .setIdentity(toProto(identity, queryId))
                .setSchema(schema)
                .setTable(table)
                .build();
        return call(() -> Optional.of(stub().getViewDefinition(request)), Optional::empty);
    }

    /**
     * What the user may do with one backing table (native enforcement). A NOT_FOUND answer, which the
     * RPC does not define, is taken as the most restrictive one: governed, and not visible.
     */
    public GetTableAccessResponse getTableAccess(PdpIdentity identity, String queryId, CatalogSchemaTableName table)
    {
        GetTableAccessRequest request = GetTableAccessRequest.newBuilder()
                .setIdentity(toProto(identity, queryId))
                .setTable(BackingTable.newBuilder()
                        .setCatalog(table.getCatalogName())
                        .setSchema(table.getSchemaTableName().getSchemaName())
                        .setTable(table.getSchemaTableName().getTableName()))
                .build();
        return call(() -> stub().getTableAccess(request), () -> GetTableAccessResponse.newBuilder().setGoverned(true).setVisible(false).build());
    }

    /** Which of a listing's tables of one catalog are visible, and which no data source governs (native enforcement). */
    public FilterTablesResponse filterTables(PdpIdentity identity, String queryId, String catalog, Collection<SchemaTableName> tables)
    {
        FilterTablesRequest.Builder request = FilterTablesRequest.newBuilder()
                .setIdentity(toProto(identity, queryId))
                .setCatalog(catalog);
        for (SchemaTableName table : tables) {
            request.addTables(TableName.newBuilder().setSchema(table.getSchemaName()).setTable(table.getTableName()));
        }
        FilterTablesRequest built = request.build();
        // NOT_FOUND is not an answer FilterTables has: nothing is visible.
        return call(() -> stub().filterTables(built), FilterTablesResponse::getDefaultInstance);
    }

    /** Which of one catalog's schemas hold a table the user may see, and which no data source governs (native enforcement). */
    public FilterSchemasResponse filterSchemas(PdpIdentity identity, String queryId, String catalog, Collection<String> schemas)
    {
        FilterSchemasRequest request = FilterSchemasRequest.newBuilder()
                .setIdentity(toProto(identity, queryId))
                .setCatalog(catalog)
                .addAllSchemas(schemas)
                .build();
        return call(() -> stub().filterSchemas(request), FilterSchemasResponse::getDefaultInstance);
    }

    /**
     * Hands a batch of completed queries to the PDP (the query audit); returns how many it kept. Unlike
     * the query path, a failure is not translated into a Trino error: the caller retries.
     *
     * @throws StatusRuntimeException when the call fails
     */
    public int recordQueries(RecordQueriesRequest request)
    {
        return stub().recordQueries(request).getRecorded();
    }

    /**
     * Whether the user may reveal one column's tokens ({@code reveal}), and under which policy. A
     * NOT_FOUND answer, which the RPC does not define, is taken as a refusal; any other failure is a
     * Trino error, so the caller fails closed.
     */
    @Override
    public AuthorizeRevealResponse authorizeReveal(PdpIdentity identity, String queryId, String dataSource, String column)
    {
        AuthorizeRevealRequest request = AuthorizeRevealRequest.newBuilder()
                .setIdentity(toProto(identity, queryId))
                .setDataSource(dataSource)
                .setColumn(column)
                .build();
        return call(() -> stub().authorizeReveal(request), () -> AuthorizeRevealResponse.newBuilder()
                .setAllowed(false)
                .setReason("no such data source or column")
                .build());
    }

    /**
     * Hands a batch of reveal counts to the PDP; returns how many it recorded. Like
     * {@link #recordQueries}, a failure is not translated into a Trino error: the caller retries.
     *
     * @throws StatusRuntimeException when the call fails
     */
    @Override
    public int recordReveals(RecordRevealsRequest request)
    {
        return stub().recordReveals(request).getRecorded();
    }

    /** A stub without a deadline, for the long-lived change stream; it carries the token like every call. */
    public PolicyDecisionBlockingStub streamingStub()
    {
        return stub;
    }

    private PolicyDecisionBlockingStub stub()
    {
        reconnectIfFailed();
        return stub.withDeadlineAfter(timeoutMillis, TimeUnit.MILLISECONDS);
    }

    /**
     * After failed connects a channel waits up to minutes before it tries again and fails every call
     * meanwhile. A query is a good reason to try now, so a restarted PDP is used at once; the wait for
     * that attempt is short, so a PDP that is still down fails the query quickly.
     */
    private void reconnectIfFailed()
    {
        if (channel.getState(false) != ConnectivityState.TRANSIENT_FAILURE) {
            return;
        }
        CountDownLatch changed = new CountDownLatch(1);
        channel.notifyWhenStateChanged(ConnectivityState.TRANSIENT_FAILURE, changed::countDown);
        channel.resetConnectBackoff();
        try {
            changed.await(Math.min(timeoutMillis, RECONNECT_WAIT_MILLIS), TimeUnit.MILLISECONDS);
        }
        catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Runs one call; NOT_FOUND gives the fallback, any other failure a Trino error. */
    private <T> T call(Supplier<T> rpc, Supplier<T> notFound)
    {
        try {
            return rpc.get();
        }
        catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() == Status.Code.NOT_FOUND) {
                return notFound.get();
            }
            throw translate(e.getStatus(), address);
        }
    }

    /** A failed call's status for a log line: its code, and its description when it has one. */
    static String describe(Status status)
    {
        return status.getDescription() == null ? status.getCode().toString() : status.getCode() + ": " + status.getDescription();
    }

    /** The Trino error for a failed call other than NOT_FOUND. */
    static TrinoException translate(Status status, String address)
    {
        String description = status.getDescription() == null ? "" : status.getDescription();
        return switch (status.getCode()) {
            case PERMISSION_DENIED -> new TrinoException(PERMISSION_DENIED, description.isEmpty() ? "Veil: access denied" : description);
            case INVALID_ARGUMENT -> new TrinoException(VEIL_PDP_REJECTED, "Veil: the policy decision point rejected the request: " + description);
            case UNAUTHENTICATED -> new TrinoException(
                    VEIL_PDP_REJECTED,
                    "Veil: the policy decision point at %s did not accept the plugin's credentials (check %s): %s".formatted(address, VeilConfig.PDP_TOKEN, description));
            default -> new TrinoException(
                    VEIL_PDP_UNAVAILABLE,
                    "Veil: the policy decision point at %s is unreachable or failed (%s%s); failing closed".formatted(
                            address, status.getCode(), description.isEmpty() ? "" : ": " + description),
                    status.getCause());
        };
    }

    /**
     * The identity as the PDP takes it, with the query the call is made for ({@code ""} when unknown):
     * the query id goes to the decision audit only, so it is no part of {@link PdpIdentity}, which keys
     * the caches.
     */
    static Identity toProto(PdpIdentity identity, String queryId)
    {
        return Identity.newBuilder()
                .setUser(identity.user())
                .addAllGroups(identity.groups())
                .setProject(identity.project())
                .setQueryId(queryId == null ? "" : queryId)
                .build();
    }

    @Override
    public void close()
    {
        channel.shutdownNow();
        try {
            channel.awaitTermination(5, TimeUnit.SECONDS);
        }
        catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
