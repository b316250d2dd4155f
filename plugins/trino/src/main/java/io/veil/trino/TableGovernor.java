package io.veil.trino;

import io.trino.spi.connector.CatalogSchemaTableName;
import io.trino.spi.connector.SchemaTableName;
import io.trino.spi.security.Identity;
import io.trino.spi.security.SystemSecurityContext;
import veil.v1.Decision.FilterTablesResponse;
import veil.v1.Decision.TableName;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import static java.util.Objects.requireNonNull;

/**
 * Decides, per identity and backing table, what Veil makes of the table ({@link TableVerdict}), asking
 * the PDP only about what Veil may govern: not for the run-as user, not in a catalog Veil does not
 * govern, never for {@code information_schema}. Answers come from the query's own answers, then the
 * shared cache, then the PDP; any PDP failure propagates, so nothing is ever decided without an answer.
 *
 * <p>A connector's metadata table ({@code orders$partitions}, {@code orders$files}) is judged by its base
 * table: absent when a data source governs the base (it would show the base's data around Veil's
 * filters and masks), like any unregistered table otherwise.
 */
public final class TableGovernor
{
    static final String INFORMATION_SCHEMA = "information_schema";

    private final PdpClient client;
    private final ViewCache<TableAccessKey, TableAccess> cache;
    private final QueryAnswers queries;
    private final GovernedCatalogs catalogs;
    private final UnregisteredTables unregistered;
    private final String runAsUser;
    private final QueryProjects projects;

    public TableGovernor(
            PdpClient client,
            ViewCache<TableAccessKey, TableAccess> cache,
            QueryAnswers queries,
            GovernedCatalogs catalogs,
            UnregisteredTables unregistered,
            String runAsUser,
            QueryProjects projects)
    {
        this.client = requireNonNull(client, "client is null");
        this.cache = requireNonNull(cache, "cache is null");
        this.queries = requireNonNull(queries, "queries is null");
        this.catalogs = requireNonNull(catalogs, "catalogs is null");
        this.unregistered = requireNonNull(unregistered, "unregistered is null");
        this.runAsUser = requireNonNull(runAsUser, "runAsUser is null");
        this.projects = requireNonNull(projects, "projects is null");
    }

    public String runAsUser()
    {
        return runAsUser;
    }

    public GovernedCatalogs catalogs()
    {
        return catalogs;
    }

    /** The run-as user is never governed: the governed catalog's views and every filter and mask run as it. */
    public boolean isRunAs(Identity identity)
    {
        return identity.getUser().equals(runAsUser);
    }

    /** Whether Veil may restrict anything in the catalog for this identity. */
    public boolean governs(Identity identity, String catalog)
    {
        return !isRunAs(identity) && catalogs.governs(catalog);
    }

    public TableVerdict verdict(SystemSecurityContext context, CatalogSchemaTableName table)
    {
        if (!governs(context.getIdentity(), table.getCatalogName()) || isInformationSchema(table.getSchemaTableName())) {
            return TableVerdict.UNTOUCHED;
        }
        Optional<CatalogSchemaTableName> base = base(table);
        TableAccess access = access(context, base.orElse(table));
        if (!access.governed()) {
            return unregistered == UnregisteredTables.ALLOW ? TableVerdict.UNTOUCHED : TableVerdict.ABSENT;
        }
        if (base.isPresent() || !access.visible()) {
            return TableVerdict.ABSENT;
        }
        return new TableVerdict.Governed(access);
    }

    /**
     * The tables of one catalog's listing the user may see, with one {@code FilterTables} call for all
     * of them that this query has not already had an answer for.
     */
    public Set<SchemaTableName> filterTables(SystemSecurityContext context, String catalog, Set<SchemaTableName> tables)
    {
        if (!governs(context.getIdentity(), catalog)) {
            return tables;
        }
        Map<SchemaTableName, QueryAnswers.Listed> listed = listed(context, catalog, tables);
        Set<SchemaTableName> visible = new LinkedHashSet<>();
        for (SchemaTableName table : tables) {
            if (isInformationSchema(table)) {
                visible.add(table);
                continue;
            }
            SchemaTableName judged = base(table).orElse(table);
            QueryAnswers.Listed status = listed.get(judged);
            boolean shown = switch (status) {
                case VISIBLE -> judged.equals(table);
                case HIDDEN -> false;
                case UNREGISTERED -> unregistered == UnregisteredTables.ALLOW;
            };
            if (shown) {
                visible.add(table);
            }
        }
        return visible;
    }

    /**
     * The schemas of one catalog's listing the user may see, with one {@code FilterSchemas} call: those
     * holding a governed table they may see, {@code information_schema}, and, when unregistered tables
     * are allowed, every other one (it may hold tables no data source governs). Not cached: a schema
     * listing is one call per query that lists schemas.
     */
    public Set<String> filterSchemas(SystemSecurityContext context, String catalog, Set<String> schemas)
    {
        if (!governs(context.getIdentity(), catalog) || unregistered == UnregisteredTables.ALLOW) {
            return schemas;
        }
        List<String> asked = schemas.stream().filter(schema -> !schema.equals(INFORMATION_SCHEMA)).toList();
        Set<String> visible = new HashSet<>();
        if (!asked.isEmpty()) {
            visible.addAll(client.filterSchemas(pdpIdentity(context), queryId(context), catalog, asked).getVisibleList());
        }
        Set<String> shown = new LinkedHashSet<>();
        for (String schema : schemas) {
            if (schema.equals(INFORMATION_SCHEMA) || visible.contains(schema)) {
                shown.add(schema);
            }
        }
        return shown;
    }

    /**
     * The columns of a listing's tables that the user may see: none of a table they may not see, the
     * data source's of a governed one, all of one Veil leaves untouched. Costs the listing call (if
     * this query has not had it yet) and one answer per visible governed table.
     */
    public Map<SchemaTableName, Set<String>> filterColumns(SystemSecurityContext context, String catalog, Map<SchemaTableName, Set<String>> tableColumns)
    {
        if (!governs(context.getIdentity(), catalog)) {
            return tableColumns;
        }
        Set<SchemaTableName> shown = filterTables(context, catalog, tableColumns.keySet());
        Map<SchemaTableName, QueryAnswers.Listed> listed = listed(context, catalog, shown);
        Map<SchemaTableName, Set<String>> result = new LinkedHashMap<>();
        for (Map.Entry<SchemaTableName, Set<String>> entry : tableColumns.entrySet()) {
            SchemaTableName table = entry.getKey();
            if (!shown.contains(table)) {
                continue;
            }
            if (listed.get(table) != QueryAnswers.Listed.VISIBLE) {
                // information_schema, or unregistered and allowed: untouched.
                result.put(table, entry.getValue());
                continue;
            }
            switch (verdict(context, new CatalogSchemaTableName(catalog, table))) {
                case TableVerdict.Untouched _ -> result.put(table, entry.getValue());
                case TableVerdict.Absent _ -> {}
                case TableVerdict.Governed governed -> result.put(table, governed.access().visibleColumns(entry.getValue()));
            }
        }
        return result;
    }

    /** How each table (or the base of a metadata table) of the listing is listed for the user. */
    private Map<SchemaTableName, QueryAnswers.Listed> listed(SystemSecurityContext context, String catalog, Set<SchemaTableName> tables)
    {
        PdpIdentity identity = pdpIdentity(context);
        QueryAnswers.Answers answers = queries.of(context.getQueryId());
        Map<SchemaTableName, QueryAnswers.Listed> listed = new LinkedHashMap<>();
        List<SchemaTableName> unknown = new ArrayList<>();
        Set<SchemaTableName> judged = new LinkedHashSet<>();
        for (SchemaTableName table : tables) {
            if (!isInformationSchema(table)) {
                judged.add(base(table).orElse(table));
            }
        }
        for (SchemaTableName table : judged) {
            TableAccessKey key = TableAccessKey.of(identity, new CatalogSchemaTableName(catalog, table));
            Optional<QueryAnswers.Listed> known = answers.listed(key)
                    .or(() -> cache.cached(key).map(QueryAnswers.Listed::of));
            if (known.isPresent()) {
                listed.put(table, known.get());
            }
            else {
                unknown.add(table);
            }
        }
        if (unknown.isEmpty()) {
            return listed;
        }
        FilterTablesResponse response = client.filterTables(identity, queryId(context), catalog, unknown);
        Set<SchemaTableName> visible = names(response.getVisibleList());
        Set<SchemaTableName> ungoverned = names(response.getUngovernedList());
        for (SchemaTableName table : unknown) {
            // Visible wins over ungoverned; anything the PDP did not mention is hidden.
            QueryAnswers.Listed status = visible.contains(table) ? QueryAnswers.Listed.VISIBLE
                    : ungoverned.contains(table) ? QueryAnswers.Listed.UNREGISTERED
                    : QueryAnswers.Listed.HIDDEN;
            answers.list(TableAccessKey.of(identity, new CatalogSchemaTableName(catalog, table)), status);
            listed.put(table, status);
        }
        return listed;
    }

    private TableAccess access(SystemSecurityContext context, CatalogSchemaTableName table)
    {
        PdpIdentity identity = pdpIdentity(context);
        TableAccessKey key = TableAccessKey.of(identity, table);
        return queries.of(context.getQueryId()).access(key, () -> cache.get(
                key,
                () -> Optional.of(TableAccess.fromProto(table.toString(), client.getTableAccess(identity, queryId(context), table), runAsUser)))
                .orElseThrow());
    }

    /** The identity asking, whose project (if any) the query audit takes when the query completes. */
    private PdpIdentity pdpIdentity(SystemSecurityContext context)
    {
        PdpIdentity identity = PdpIdentity.of(context.getIdentity());
        projects.note(queryId(context), identity.project());
        return identity;
    }

    /** The query the PDP is asked for, for its decision audit; never part of a cache key. */
    private static String queryId(SystemSecurityContext context)
    {
        return context.getQueryId() == null ? "" : context.getQueryId().getId();
    }

    static boolean isInformationSchema(SchemaTableName table)
    {
        return table.getSchemaName().equals(INFORMATION_SCHEMA);
    }

    /** The base table of a connector's metadata table ({@code orders$partitions} → {@code orders}). */
    static Optional<SchemaTableName> base(SchemaTableName table)
    {
        int dollar = table.getTableName().indexOf('$');
        if (dollar <= 0) {
            return Optional.empty();
        }
        return Optional.of(new SchemaTableName(table.getSchemaName(), table.getTableName().substring(0, dollar)));
    }

    private static Optional<CatalogSchemaTableName> base(CatalogSchemaTableName table)
    {
        return base(table.getSchemaTableName()).map(name -> new CatalogSchemaTableName(table.getCatalogName(), name));
    }

    private static Set<SchemaTableName> names(List<TableName> names)
    {
        Set<SchemaTableName> result = new HashSet<>();
        for (TableName name : names) {
            if (!name.getSchema().isEmpty() && !name.getTable().isEmpty()) {
                result.add(new SchemaTableName(name.getSchema(), name.getTable()));
            }
        }
        return result;
    }
}
