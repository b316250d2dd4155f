package io.veil.trino;

import io.grpc.InsecureServerCredentials;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import veil.v1.Decision.AuthorizeRevealRequest;
import veil.v1.Decision.AuthorizeRevealResponse;
import veil.v1.Decision.ChangeEvent;
import veil.v1.Decision.ColumnMask;
import veil.v1.Decision.FilterSchemasRequest;
import veil.v1.Decision.FilterSchemasResponse;
import veil.v1.Decision.FilterTablesRequest;
import veil.v1.Decision.FilterTablesResponse;
import veil.v1.Decision.GetTableAccessRequest;
import veil.v1.Decision.GetTableAccessResponse;
import veil.v1.Decision.GetViewDefinitionRequest;
import veil.v1.Decision.GetViewDefinitionResponse;
import veil.v1.Decision.GetViewDefinitionsRequest;
import veil.v1.Decision.GetViewDefinitionsResponse;
import veil.v1.Decision.NamedView;
import veil.v1.Decision.ListSchemasRequest;
import veil.v1.Decision.ListSchemasResponse;
import veil.v1.Decision.ListTablesRequest;
import veil.v1.Decision.ListTablesResponse;
import veil.v1.Decision.RecordQueriesRequest;
import veil.v1.Decision.RecordQueriesResponse;
import veil.v1.Decision.RecordRevealsRequest;
import veil.v1.Decision.RecordRevealsResponse;
import veil.v1.Decision.TableName;
import veil.v1.Decision.ViewColumn;
import veil.v1.Decision.WatchChangesRequest;
import veil.v1.PolicyDecisionGrpc;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A scripted PDP on a real gRPC server bound to 127.0.0.1:0: `alice` sees `sales.customers`,
 * project `forbidden` is refused, `slow` never answers in time, and the change stream is fed by the test.
 *
 * <p>Native enforcement: data source `sales.customers` governs `tpch.tiny.customer` and `sales.orders`
 * governs `tpch.tiny.orders`; `alice` sees both (customers filtered and masked, orders filtered, naming the run-as
 * user itself), everyone else neither; every other backing table is unregistered. Tests may change
 * {@link #backing} and {@link #answers}.
 *
 * <p>The query audit: RecordQueries accepts every batch and records it, unless {@link #recordFailure} is set.
 *
 * <p>Reveal: AuthorizeReveal records every request and answers from {@link #revealAnswers} (refused,
 * "no reveal grant", for anything else), unless {@link #revealFailure} is set; project `forbidden` and
 * user `slow` as above. RecordReveals records every batch it accepts, unless {@link #revealRecordFailure} is set.
 */
final class FakePdp
        implements AutoCloseable
{
    final List<String> authorizations = new CopyOnWriteArrayList<>();
    final List<GetViewDefinitionRequest> viewRequests = new CopyOnWriteArrayList<>();
    final List<GetViewDefinitionsRequest> viewListRequests = new CopyOnWriteArrayList<>();
    final List<Long> watchSinceVersions = new CopyOnWriteArrayList<>();
    /** Per WatchChanges call, in order: a status to fail with, or events to send then end the stream. */
    final BlockingQueue<Object> watchScript = new LinkedBlockingQueue<>();
    final List<GetTableAccessRequest> tableAccessRequests = new CopyOnWriteArrayList<>();
    final List<FilterTablesRequest> filterRequests = new CopyOnWriteArrayList<>();
    final List<FilterSchemasRequest> schemaRequests = new CopyOnWriteArrayList<>();
    /** The RecordQueries calls the PDP accepted, in order. */
    final List<RecordQueriesRequest> recordRequests = new CopyOnWriteArrayList<>();
    /** Every RecordQueries call, accepted or not. */
    final AtomicInteger recordCalls = new AtomicInteger();
    /** When set, every RecordQueries call fails with it (and is not recorded in {@link #recordRequests}). */
    volatile Status recordFailure;
    /** `user|data_source|column` → the AuthorizeReveal answer; anything else is refused. */
    final Map<String, AuthorizeRevealResponse> revealAnswers = new ConcurrentHashMap<>();
    final List<AuthorizeRevealRequest> revealRequests = new CopyOnWriteArrayList<>();
    /** When set, every AuthorizeReveal call fails with it. */
    volatile Status revealFailure;
    /** The RecordReveals calls the PDP accepted, in order. */
    final List<RecordRevealsRequest> revealRecords = new CopyOnWriteArrayList<>();
    /** Every RecordReveals call, accepted or not. */
    final AtomicInteger revealRecordCalls = new AtomicInteger();
    /** When set, every RecordReveals call fails with it (and is not recorded in {@link #revealRecords}). */
    volatile Status revealRecordFailure;
    /** Backing table (`catalog.schema.table`) → the data source that governs it. */
    final Map<String, String> backing = new ConcurrentHashMap<>(Map.of(
            "tpch.tiny.customer", "sales.customers",
            "tpch.tiny.orders", "sales.orders"));
    /** `user|catalog.schema.table` → the visible answer; a governed table's other users may not see it. */
    final Map<String, GetTableAccessResponse> answers = new ConcurrentHashMap<>(Map.of(
            "alice|tpch.tiny.customer", GetTableAccessResponse.newBuilder()
                    .setGoverned(true)
                    .setVisible(true)
                    .setDataSource("sales.customers")
                    .addAllColumns(List.of("custkey", "name", "phone", "nationkey"))
                    .addRowFilters("\"nationkey\" IN (1, 2)")
                    .addRowFilters("\"custkey\" < 1000")
                    .addColumnMasks(ColumnMask.newBuilder().setColumn("name").setExpression("CAST(\"veil\".\"system\".\"hash\"('default', \"name\") AS varchar(25))"))
                    .addColumnMasks(ColumnMask.newBuilder().setColumn("phone").setExpression("'***'"))
                    .setPolicyVersion(7)
                    .build(),
            "alice|tpch.tiny.orders", GetTableAccessResponse.newBuilder()
                    .setGoverned(true)
                    .setVisible(true)
                    .setDataSource("sales.orders")
                    .addAllColumns(List.of("orderkey", "custkey", "totalprice"))
                    .addRowFilters("\"totalprice\" < 1000")
                    .setRunAs("veil_admin")
                    .setPolicyVersion(7)
                    .build()));
    private final Server server;
    private final String address;

    FakePdp()
            throws IOException
    {
        this(0);
    }

    /** A PDP on a given port, to restart one where a client expects it. */
    FakePdp(int port)
            throws IOException
    {
        ServerInterceptor recordAuthorization = new ServerInterceptor()
        {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next)
            {
                String authorization = headers.get(PdpClient.AUTHORIZATION);
                authorizations.add(authorization == null ? "" : authorization);
                return next.startCall(call, headers);
            }
        };
        server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", port), InsecureServerCredentials.create())
                .addService(ServerInterceptors.intercept(new Service(), recordAuthorization))
                .build()
                .start();
        address = "127.0.0.1:" + server.getPort();
    }

    int port()
    {
        return Integer.parseInt(address.substring(address.lastIndexOf(':') + 1));
    }

    String address()
    {
        return address;
    }

    @Override
    public void close()
            throws InterruptedException
    {
        if (!server.isShutdown()) {
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    private final class Service
            extends PolicyDecisionGrpc.PolicyDecisionImplBase
    {
        @Override
        public void getViewDefinition(GetViewDefinitionRequest request, StreamObserver<GetViewDefinitionResponse> response)
        {
            viewRequests.add(request);
            String user = request.getIdentity().getUser();
            if (request.getIdentity().getProject().equals("forbidden")) {
                response.onError(Status.PERMISSION_DENIED.withDescription("`%s` is not a member of project `forbidden`".formatted(user)).asRuntimeException());
                return;
            }
            if (user.equals("slow")) {
                return; // never answers: the client's deadline must fire
            }
            if (!user.equals("alice") || !request.getSchema().equals("sales") || !request.getTable().equals("customers")) {
                response.onError(Status.NOT_FOUND.withDescription("no such table").asRuntimeException());
                return;
            }
            response.onNext(customers());
            response.onCompleted();
        }

        @Override
        public void getViewDefinitions(GetViewDefinitionsRequest request, StreamObserver<GetViewDefinitionsResponse> response)
        {
            viewListRequests.add(request);
            GetViewDefinitionsResponse.Builder views = GetViewDefinitionsResponse.newBuilder();
            if (request.getIdentity().getUser().equals("alice") && List.of("", "sales").contains(request.getSchema())) {
                views.addViews(NamedView.newBuilder().setSchema("sales").setTable("customers").setView(customers()));
            }
            response.onNext(views.build());
            response.onCompleted();
        }

        private static GetViewDefinitionResponse customers()
        {
            return GetViewDefinitionResponse.newBuilder()
                    .setSql("SELECT \"custkey\", \"name\" FROM \"tpch\".\"tiny\".\"customer\"")
                    .addColumns(ViewColumn.newBuilder().setName("custkey").setType("bigint"))
                    .addColumns(ViewColumn.newBuilder().setName("name").setType("varchar(25)").setComment("hashed"))
                    .setPolicyVersion(7)
                    .build();
        }

        @Override
        public void listSchemas(ListSchemasRequest request, StreamObserver<ListSchemasResponse> response)
        {
            ListSchemasResponse.Builder schemas = ListSchemasResponse.newBuilder();
            if (request.getIdentity().getUser().equals("alice")) {
                schemas.addSchemas("sales");
            }
            response.onNext(schemas.build());
            response.onCompleted();
        }

        @Override
        public void listTables(ListTablesRequest request, StreamObserver<ListTablesResponse> response)
        {
            ListTablesResponse.Builder tables = ListTablesResponse.newBuilder();
            if (request.getIdentity().getUser().equals("alice") && List.of("", "sales").contains(request.getSchema())) {
                tables.addTables(TableName.newBuilder().setSchema("sales").setTable("customers"));
            }
            response.onNext(tables.build());
            response.onCompleted();
        }

        @Override
        public void getTableAccess(GetTableAccessRequest request, StreamObserver<GetTableAccessResponse> response)
        {
            tableAccessRequests.add(request);
            if (refused(request.getIdentity(), response)) {
                return;
            }
            String table = "%s.%s.%s".formatted(request.getTable().getCatalog(), request.getTable().getSchema(), request.getTable().getTable());
            String dataSource = backing.get(table);
            GetTableAccessResponse answer;
            if (dataSource == null) {
                answer = GetTableAccessResponse.newBuilder().setPolicyVersion(7).build();
            }
            else {
                answer = answers.getOrDefault(
                        request.getIdentity().getUser() + "|" + table,
                        GetTableAccessResponse.newBuilder().setGoverned(true).setVisible(false).setDataSource(dataSource).setPolicyVersion(7).build());
            }
            response.onNext(answer);
            response.onCompleted();
        }

        @Override
        public void filterTables(FilterTablesRequest request, StreamObserver<FilterTablesResponse> response)
        {
            filterRequests.add(request);
            if (refused(request.getIdentity(), response)) {
                return;
            }
            FilterTablesResponse.Builder answer = FilterTablesResponse.newBuilder().setPolicyVersion(7);
            for (TableName name : request.getTablesList()) {
                String table = "%s.%s.%s".formatted(request.getCatalog(), name.getSchema(), name.getTable());
                if (!backing.containsKey(table)) {
                    answer.addUngoverned(name);
                }
                else if (answers.containsKey(request.getIdentity().getUser() + "|" + table)) {
                    answer.addVisible(name);
                }
            }
            response.onNext(answer.build());
            response.onCompleted();
        }

        @Override
        public void filterSchemas(FilterSchemasRequest request, StreamObserver<FilterSchemasResponse> response)
        {
            schemaRequests.add(request);
            if (refused(request.getIdentity(), response)) {
                return;
            }
            FilterSchemasResponse.Builder answer = FilterSchemasResponse.newBuilder().setPolicyVersion(7);
            for (String schema : request.getSchemasList()) {
                String prefix = "%s|%s.%s.".formatted(request.getIdentity().getUser(), request.getCatalog(), schema);
                if (answers.keySet().stream().anyMatch(key -> key.startsWith(prefix))) {
                    answer.addVisible(schema);
                }
            }
            response.onNext(answer.build());
            response.onCompleted();
        }

        /** Refuses project `forbidden`; never answers `slow`. */
        private boolean refused(veil.v1.Decision.Identity identity, StreamObserver<?> response)
        {
            if (identity.getProject().equals("forbidden")) {
                response.onError(Status.PERMISSION_DENIED.withDescription("`%s` is not a member of project `forbidden`".formatted(identity.getUser())).asRuntimeException());
                return true;
            }
            return identity.getUser().equals("slow");
        }

        @Override
        public void recordQueries(RecordQueriesRequest request, StreamObserver<RecordQueriesResponse> response)
        {
            recordCalls.incrementAndGet();
            Status failure = recordFailure;
            if (failure != null) {
                response.onError(failure.asRuntimeException());
                return;
            }
            recordRequests.add(request);
            response.onNext(RecordQueriesResponse.newBuilder().setRecorded(request.getQueriesCount()).build());
            response.onCompleted();
        }

        @Override
        public void authorizeReveal(AuthorizeRevealRequest request, StreamObserver<AuthorizeRevealResponse> response)
        {
            revealRequests.add(request);
            Status failure = revealFailure;
            if (failure != null) {
                response.onError(failure.asRuntimeException());
                return;
            }
            if (refused(request.getIdentity(), response)) {
                return;
            }
            String key = "%s|%s|%s".formatted(request.getIdentity().getUser(), request.getDataSource(), request.getColumn());
            response.onNext(revealAnswers.getOrDefault(key, AuthorizeRevealResponse.newBuilder()
                    .setAllowed(false)
                    .setReason("no reveal grant")
                    .setPolicyVersion(7)
                    .build()));
            response.onCompleted();
        }

        @Override
        public void recordReveals(RecordRevealsRequest request, StreamObserver<RecordRevealsResponse> response)
        {
            revealRecordCalls.incrementAndGet();
            Status failure = revealRecordFailure;
            if (failure != null) {
                response.onError(failure.asRuntimeException());
                return;
            }
            revealRecords.add(request);
            response.onNext(RecordRevealsResponse.newBuilder().setRecorded(request.getRevealsCount()).build());
            response.onCompleted();
        }

        @Override
        public void watchChanges(WatchChangesRequest request, StreamObserver<ChangeEvent> response)
        {
            watchSinceVersions.add(request.getSinceVersion());
            Object step = watchScript.poll();
            if (step == null) {
                response.onError(Status.UNIMPLEMENTED.asRuntimeException());
                return;
            }
            if (step instanceof Status status) {
                response.onError(status.asRuntimeException());
                return;
            }
            @SuppressWarnings("unchecked")
            List<ChangeEvent> events = (List<ChangeEvent>) step;
            events.forEach(response::onNext);
            response.onCompleted();
        }
    }
}
