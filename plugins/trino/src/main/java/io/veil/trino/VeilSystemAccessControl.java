package io.veil.trino;

import io.trino.spi.QueryId;
import io.trino.spi.connector.CatalogSchemaName;
import io.trino.spi.connector.CatalogSchemaRoutineName;
import io.trino.spi.connector.CatalogSchemaTableName;
import io.trino.spi.connector.ColumnSchema;
import io.trino.spi.connector.EntityKindAndName;
import io.trino.spi.connector.EntityPrivilege;
import io.trino.spi.connector.SchemaTableName;
import io.trino.spi.eventlistener.EventListener;
import io.trino.spi.function.SchemaFunctionName;
import io.trino.spi.security.Identity;
import io.trino.spi.security.Privilege;
import io.trino.spi.security.SystemAccessControl;
import io.trino.spi.security.SystemSecurityContext;
import io.trino.spi.security.TrinoPrincipal;
import io.trino.spi.security.ViewExpression;
import io.trino.spi.type.Type;

import java.security.Principal;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Consumer;

import static io.trino.spi.security.AccessDeniedException.denyAddColumn;
import static io.trino.spi.security.AccessDeniedException.denyAlterColumn;
import static io.trino.spi.security.AccessDeniedException.denyCommentColumn;
import static io.trino.spi.security.AccessDeniedException.denyCommentTable;
import static io.trino.spi.security.AccessDeniedException.denyCommentView;
import static io.trino.spi.security.AccessDeniedException.denyCreateCatalog;
import static io.trino.spi.security.AccessDeniedException.denyCreateMaterializedView;
import static io.trino.spi.security.AccessDeniedException.denyCreateTable;
import static io.trino.spi.security.AccessDeniedException.denyCreateView;
import static io.trino.spi.security.AccessDeniedException.denyCreateViewWithSelect;
import static io.trino.spi.security.AccessDeniedException.denyDeleteTable;
import static io.trino.spi.security.AccessDeniedException.denyDenyTablePrivilege;
import static io.trino.spi.security.AccessDeniedException.denyDropCatalog;
import static io.trino.spi.security.AccessDeniedException.denyDropColumn;
import static io.trino.spi.security.AccessDeniedException.denyDropMaterializedView;
import static io.trino.spi.security.AccessDeniedException.denyDropSchema;
import static io.trino.spi.security.AccessDeniedException.denyDropTable;
import static io.trino.spi.security.AccessDeniedException.denyDropView;
import static io.trino.spi.security.AccessDeniedException.denyExecuteProcedure;
import static io.trino.spi.security.AccessDeniedException.denyExecuteTableProcedure;
import static io.trino.spi.security.AccessDeniedException.denyGrantTablePrivilege;
import static io.trino.spi.security.AccessDeniedException.denyImpersonateUser;
import static io.trino.spi.security.AccessDeniedException.denyInsertTable;
import static io.trino.spi.security.AccessDeniedException.denyKillQuery;
import static io.trino.spi.security.AccessDeniedException.denyRefreshMaterializedView;
import static io.trino.spi.security.AccessDeniedException.denyRenameColumn;
import static io.trino.spi.security.AccessDeniedException.denyRenameMaterializedView;
import static io.trino.spi.security.AccessDeniedException.denyRenameSchema;
import static io.trino.spi.security.AccessDeniedException.denyRenameTable;
import static io.trino.spi.security.AccessDeniedException.denyRenameView;
import static io.trino.spi.security.AccessDeniedException.denyRevokeTablePrivilege;
import static io.trino.spi.security.AccessDeniedException.denySetEntityAuthorization;
import static io.trino.spi.security.AccessDeniedException.denySetMaterializedViewProperties;
import static io.trino.spi.security.AccessDeniedException.denySetTableProperties;
import static io.trino.spi.security.AccessDeniedException.denyShowCreateTable;
import static io.trino.spi.security.AccessDeniedException.denyTruncateTable;
import static io.trino.spi.security.AccessDeniedException.denyUpdateTableColumns;
import static io.trino.spi.security.AccessDeniedException.denyViewQuery;
import static java.util.Objects.requireNonNull;

/**
 * Native enforcement: the Veil policies applied by Trino to the backing tables themselves
 * ({@code SELECT * FROM tpch.tiny.customer}), so users need not go through the governed catalog.
 * (Longer than most files here because Trino's SPI has one method per check; the decisions are
 * {@link TableGovernor}'s.)
 *
 * <p>Veil restricts only what it governs ({@link TableGovernor}) and allows everything else, so that
 * stacked with another access control ({@code access-control.config-files}) Trino's rule "every one
 * must allow" leaves the rest to the other one. For a governed table:
 * <ul>
 * <li>a table the user may not see, or an unregistered one under {@code veil.unregistered-tables=deny},
 * reads exactly like one that does not exist ({@link Absence}): hidden from every listing, and every
 * statement naming it fails with Trino's own {@code TABLE_NOT_FOUND} error;</li>
 * <li>a visible one has only its data source's columns (others are hidden from listings and fail like
 * unknown columns), the PDP's row filters and column masks, evaluated as the run-as identity;</li>
 * <li>it is read-only to end users: every write, DDL or grant on it is {@code Access Denied}; reading it
 * to write elsewhere is a read, and masked like one.</li>
 * </ul>
 * The run-as user is never governed. End users also may not run procedures or catalog functions of a
 * governed catalog (they can read or change tables around Veil), create or drop catalogs, drop or
 * rename a governed catalog's schemas, impersonate the run-as user, or call the keyed mask functions
 * of a {@code veil} catalog (they may call its {@code reveal}, which asks the PDP itself).
 *
 * <p>Every decision needs a PDP answer (or a fresh cached one); when there is none, the statement fails
 * with the PDP client's {@code Veil: the policy decision point at … is unreachable} error.
 */
public final class VeilSystemAccessControl
        implements SystemAccessControl
{
    private static final String OTHERS_QUERIES = "Veil: only its owner may see or kill a query; its text can hold governed values";
    private static final String READ_ONLY = "Veil: the table is governed, and governed tables are read-only";
    private static final String NOT_OPEN = "Veil: catalog %s is governed, and this name is not open to writes";
    private static final String CATALOG_ADMIN = "Veil: only the run-as user may create or drop catalogs, which can open data around Veil";
    private static final String SCHEMA_ADMIN = "Veil: schemas of governed catalog %s hold governed tables; only the run-as user may drop, rename or give them away";
    private static final String CATALOG_ROUTINE = "Veil: routines of governed catalog %s can read or change its tables around Veil";
    private static final String DEFINITION = "Veil: a governed table's definition may show columns the user cannot see";
    private static final String PASS_ON = "Veil: a view owned by another user cannot pass on a governed table";
    private static final String RUN_AS = "Veil: nobody may act as the run-as user";

    private final TableGovernor governor;
    private final QueryAnswers queries;
    private final Runnable onShutdown;

    public VeilSystemAccessControl(TableGovernor governor, QueryAnswers queries, Runnable onShutdown)
    {
        this.governor = requireNonNull(governor, "governor is null");
        this.queries = requireNonNull(queries, "queries is null");
        this.onShutdown = requireNonNull(onShutdown, "onShutdown is null");
    }

    // --- identity and query: not governed, except that nobody may become the run-as user

    @Override
    public void checkCanImpersonateUser(Identity identity, String userName)
    {
        if (userName.equals(governor.runAsUser()) && !governor.isRunAs(identity)) {
            denyImpersonateUser(identity.getUser(), userName, RUN_AS);
        }
    }

    @Override
    @Deprecated
    public void checkCanSetUser(Optional<Principal> principal, String userName) {}

    @Override
    public void checkCanExecuteQuery(Identity identity, QueryId queryId) {}

    // Another user's query text and plan may hold values read from governed tables (literals,
    // EXPLAIN ANALYZE output): only the owner and the run-as user see or kill a query. Trino lets
    // owners see their own queries without asking.

    @Override
    public void checkCanViewQueryOwnedBy(Identity identity, Identity queryOwner)
    {
        if (!mayManageQueryOf(identity, queryOwner)) {
            denyViewQuery(OTHERS_QUERIES);
        }
    }

    @Override
    public Collection<Identity> filterViewQueryOwnedBy(Identity identity, Collection<Identity> queryOwners)
    {
        return queryOwners.stream().filter(owner -> mayManageQueryOf(identity, owner)).toList();
    }

    @Override
    public void checkCanKillQueryOwnedBy(Identity identity, Identity queryOwner)
    {
        if (!mayManageQueryOf(identity, queryOwner)) {
            denyKillQuery(OTHERS_QUERIES);
        }
    }

    @Override
    public void checkCanReadSystemInformation(Identity identity) {}

    @Override
    public void checkCanWriteSystemInformation(Identity identity) {}

    @Override
    public void checkCanSetSystemSessionProperty(Identity identity, QueryId queryId, String propertyName) {}

    @Override
    public void checkCanSetCatalogSessionProperty(SystemSecurityContext context, String catalogName, String propertyName) {}

    // --- catalogs and schemas: visible; their structure is the run-as user's in governed catalogs

    @Override
    public boolean canAccessCatalog(SystemSecurityContext context, String catalogName)
    {
        return true;
    }

    @Override
    public void checkCanCreateCatalog(SystemSecurityContext context, String catalog)
    {
        if (!governor.isRunAs(context.getIdentity())) {
            denyCreateCatalog(catalog, CATALOG_ADMIN);
        }
    }

    @Override
    public void checkCanDropCatalog(SystemSecurityContext context, String catalog)
    {
        if (!governor.isRunAs(context.getIdentity())) {
            denyDropCatalog(catalog, CATALOG_ADMIN);
        }
    }

    @Override
    public Set<String> filterCatalogs(SystemSecurityContext context, Set<String> catalogs)
    {
        return catalogs;
    }

    @Override
    public void checkCanCreateSchema(SystemSecurityContext context, CatalogSchemaName schema, Map<String, Object> properties) {}

    @Override
    public void checkCanDropSchema(SystemSecurityContext context, CatalogSchemaName schema)
    {
        if (governor.governs(context.getIdentity(), schema.getCatalogName())) {
            denyDropSchema(schema.toString(), SCHEMA_ADMIN.formatted(schema.getCatalogName()));
        }
    }

    @Override
    public void checkCanRenameSchema(SystemSecurityContext context, CatalogSchemaName schema, String newSchemaName)
    {
        if (governor.governs(context.getIdentity(), schema.getCatalogName())) {
            denyRenameSchema(schema.toString(), newSchemaName, SCHEMA_ADMIN.formatted(schema.getCatalogName()));
        }
    }

    @Override
    public void checkCanShowSchemas(SystemSecurityContext context, String catalogName) {}

    @Override
    public Set<String> filterSchemas(SystemSecurityContext context, String catalogName, Set<String> schemaNames)
    {
        return governor.filterSchemas(context, catalogName, schemaNames);
    }

    @Override
    public void checkCanShowCreateSchema(SystemSecurityContext context, CatalogSchemaName schemaName) {}

    @Override
    public void checkCanGrantSchemaPrivilege(SystemSecurityContext context, Privilege privilege, CatalogSchemaName schema, TrinoPrincipal grantee, boolean grantOption) {}

    @Override
    public void checkCanDenySchemaPrivilege(SystemSecurityContext context, Privilege privilege, CatalogSchemaName schema, TrinoPrincipal grantee) {}

    @Override
    public void checkCanRevokeSchemaPrivilege(SystemSecurityContext context, Privilege privilege, CatalogSchemaName schema, TrinoPrincipal revokee, boolean grantOption) {}

    @Override
    public void checkCanSetEntityAuthorization(SystemSecurityContext context, EntityKindAndName entity, TrinoPrincipal principal)
    {
        String kind = entity.entityKind().toUpperCase(Locale.ENGLISH);
        List<String> name = entity.name();
        if (kind.equals("SCHEMA") && name.size() == 2) {
            if (governor.governs(context.getIdentity(), name.get(0))) {
                denySetEntityAuthorization(entity, principal, SCHEMA_ADMIN.formatted(name.get(0)));
            }
            return;
        }
        if (name.size() == 3 && Set.of("TABLE", "VIEW", "MATERIALIZED VIEW").contains(kind)) {
            write(context, new CatalogSchemaTableName(name.get(0), name.get(1), name.get(2)), extra -> denySetEntityAuthorization(entity, principal, extra));
        }
    }

    // --- reading: listings filtered, absent tables absent, visible ones with their columns, filters and masks

    @Override
    public void checkCanShowTables(SystemSecurityContext context, CatalogSchemaName schema) {}

    @Override
    public Set<SchemaTableName> filterTables(SystemSecurityContext context, String catalogName, Set<SchemaTableName> tableNames)
    {
        return governor.filterTables(context, catalogName, tableNames);
    }

    @Override
    public void checkCanShowColumns(SystemSecurityContext context, CatalogSchemaTableName table)
    {
        if (governor.verdict(context, table) instanceof TableVerdict.Absent) {
            throw Absence.table(table);
        }
    }

    @Override
    @Deprecated
    public Set<String> filterColumns(SystemSecurityContext context, CatalogSchemaTableName table, Set<String> columns)
    {
        return switch (governor.verdict(context, table)) {
            case TableVerdict.Untouched _ -> columns;
            case TableVerdict.Absent _ -> Set.of();
            case TableVerdict.Governed governed -> governed.access().visibleColumns(columns);
        };
    }

    @Override
    public Map<SchemaTableName, Set<String>> filterColumns(SystemSecurityContext context, String catalogName, Map<SchemaTableName, Set<String>> tableColumns)
    {
        return governor.filterColumns(context, catalogName, tableColumns);
    }

    @Override
    public void checkCanShowCreateTable(SystemSecurityContext context, CatalogSchemaTableName table)
    {
        switch (governor.verdict(context, table)) {
            case TableVerdict.Untouched _ -> {}
            case TableVerdict.Absent _ -> throw Absence.table(table);
            case TableVerdict.Governed _ -> denyShowCreateTable(table.toString(), DEFINITION);
        }
    }

    @Override
    public void checkCanSelectFromColumns(SystemSecurityContext context, CatalogSchemaTableName table, Set<String> columns)
    {
        switch (governor.verdict(context, table)) {
            case TableVerdict.Untouched _ -> {}
            case TableVerdict.Absent _ -> throw Absence.table(table);
            case TableVerdict.Governed governed -> {
                for (String column : new TreeSet<>(columns)) {
                    if (!governed.access().columns().contains(TableAccess.column(column))) {
                        throw Absence.column(column);
                    }
                }
            }
        }
    }

    /**
     * Asked for the tables a definer view reads when its owner is not the querying user: the owner would
     * hand on their own view of a governed table to everyone who may query the view.
     */
    @Override
    public void checkCanCreateViewWithSelectFromColumns(SystemSecurityContext context, CatalogSchemaTableName table, Set<String> columns)
    {
        switch (governor.verdict(context, table)) {
            case TableVerdict.Untouched _ -> {}
            case TableVerdict.Absent _ -> throw Absence.table(table);
            case TableVerdict.Governed _ -> denyCreateViewWithSelect(table.toString(), context.getIdentity().toConnectorIdentity(), PASS_ON);
        }
    }

    @Override
    public List<ViewExpression> getRowFilters(SystemSecurityContext context, CatalogSchemaTableName tableName)
    {
        return switch (governor.verdict(context, tableName)) {
            case TableVerdict.Untouched _ -> List.of();
            case TableVerdict.Absent _ -> throw Absence.table(tableName);
            case TableVerdict.Governed governed -> governed.access().rowFilters().stream()
                    .map(filter -> expression(governed.access(), tableName, filter))
                    .toList();
        };
    }

    /** One PDP answer (usually already cached) masks every column Trino asks about. */
    @Override
    public Map<ColumnSchema, ViewExpression> getColumnMasks(SystemSecurityContext context, CatalogSchemaTableName tableName, List<ColumnSchema> columns)
    {
        return switch (governor.verdict(context, tableName)) {
            case TableVerdict.Untouched _ -> Map.of();
            case TableVerdict.Absent _ -> throw Absence.table(tableName);
            case TableVerdict.Governed governed -> {
                Map<ColumnSchema, ViewExpression> masks = new LinkedHashMap<>();
                for (ColumnSchema column : columns) {
                    String mask = governed.access().masks().get(TableAccess.column(column.getName()));
                    if (mask != null) {
                        masks.put(column, expression(governed.access(), tableName, mask));
                    }
                }
                yield masks;
            }
        };
    }

    @Override
    @Deprecated
    public Optional<ViewExpression> getColumnMask(SystemSecurityContext context, CatalogSchemaTableName tableName, String columnName, Type type)
    {
        ColumnSchema column = ColumnSchema.builder().setName(columnName).setType(type).build();
        return Optional.ofNullable(getColumnMasks(context, tableName, List.of(column)).get(column));
    }

    // --- writing: governed tables are read-only; absent ones stay absent

    @Override
    public void checkCanCreateTable(SystemSecurityContext context, CatalogSchemaTableName table, Map<String, Object> properties)
    {
        create(context, table, extra -> denyCreateTable(table.toString(), extra));
    }

    @Override
    public void checkCanDropTable(SystemSecurityContext context, CatalogSchemaTableName table)
    {
        write(context, table, extra -> denyDropTable(table.toString(), extra));
    }

    @Override
    public void checkCanRenameTable(SystemSecurityContext context, CatalogSchemaTableName table, CatalogSchemaTableName newTable)
    {
        write(context, table, extra -> denyRenameTable(table.toString(), newTable.toString(), extra));
        create(context, newTable, extra -> denyRenameTable(table.toString(), newTable.toString(), extra));
    }

    @Override
    public void checkCanSetTableProperties(SystemSecurityContext context, CatalogSchemaTableName table, Map<String, Optional<Object>> properties)
    {
        write(context, table, extra -> denySetTableProperties(table.toString(), extra));
    }

    @Override
    public void checkCanSetTableComment(SystemSecurityContext context, CatalogSchemaTableName table)
    {
        write(context, table, extra -> denyCommentTable(table.toString(), extra));
    }

    @Override
    public void checkCanSetViewComment(SystemSecurityContext context, CatalogSchemaTableName view)
    {
        write(context, view, extra -> denyCommentView(view.toString(), extra));
    }

    @Override
    public void checkCanSetColumnComment(SystemSecurityContext context, CatalogSchemaTableName table)
    {
        write(context, table, extra -> denyCommentColumn(table.toString(), extra));
    }

    @Override
    public void checkCanAddColumn(SystemSecurityContext context, CatalogSchemaTableName table)
    {
        write(context, table, extra -> denyAddColumn(table.toString(), extra));
    }

    @Override
    public void checkCanAlterColumn(SystemSecurityContext context, CatalogSchemaTableName table)
    {
        write(context, table, extra -> denyAlterColumn(table.toString(), extra));
    }

    @Override
    public void checkCanDropColumn(SystemSecurityContext context, CatalogSchemaTableName table)
    {
        write(context, table, extra -> denyDropColumn(table.toString(), extra));
    }

    @Override
    public void checkCanRenameColumn(SystemSecurityContext context, CatalogSchemaTableName table)
    {
        write(context, table, extra -> denyRenameColumn(table.toString(), extra));
    }

    @Override
    public void checkCanInsertIntoTable(SystemSecurityContext context, CatalogSchemaTableName table)
    {
        write(context, table, extra -> denyInsertTable(table.toString(), extra));
    }

    @Override
    public void checkCanDeleteFromTable(SystemSecurityContext context, CatalogSchemaTableName table)
    {
        write(context, table, extra -> denyDeleteTable(table.toString(), extra));
    }

    @Override
    public void checkCanTruncateTable(SystemSecurityContext context, CatalogSchemaTableName table)
    {
        write(context, table, extra -> denyTruncateTable(table.toString(), extra));
    }

    @Override
    public void checkCanUpdateTableColumns(SystemSecurityContext securityContext, CatalogSchemaTableName table, Set<String> updatedColumnNames)
    {
        write(securityContext, table, extra -> denyUpdateTableColumns(table.toString(), updatedColumnNames, extra));
    }

    @Override
    public void checkCanExecuteTableProcedure(SystemSecurityContext systemSecurityContext, CatalogSchemaTableName table, String procedure)
    {
        write(systemSecurityContext, table, extra -> denyExecuteTableProcedure(table.toString(), procedure + ": " + extra));
    }

    @Override
    public void checkCanCreateView(SystemSecurityContext context, CatalogSchemaTableName view)
    {
        create(context, view, extra -> denyCreateView(view.toString(), extra));
    }

    @Override
    public void checkCanRenameView(SystemSecurityContext context, CatalogSchemaTableName view, CatalogSchemaTableName newView)
    {
        write(context, view, extra -> denyRenameView(view.toString(), newView.toString(), extra));
        create(context, newView, extra -> denyRenameView(view.toString(), newView.toString(), extra));
    }

    @Override
    public void checkCanDropView(SystemSecurityContext context, CatalogSchemaTableName view)
    {
        write(context, view, extra -> denyDropView(view.toString(), extra));
    }

    @Override
    public void checkCanCreateMaterializedView(SystemSecurityContext context, CatalogSchemaTableName materializedView, Map<String, Object> properties)
    {
        create(context, materializedView, extra -> denyCreateMaterializedView(materializedView.toString(), extra));
    }

    @Override
    public void checkCanRefreshMaterializedView(SystemSecurityContext context, CatalogSchemaTableName materializedView)
    {
        write(context, materializedView, extra -> denyRefreshMaterializedView(materializedView.toString(), extra));
    }

    @Override
    public void checkCanSetMaterializedViewProperties(SystemSecurityContext context, CatalogSchemaTableName materializedView, Map<String, Optional<Object>> properties)
    {
        write(context, materializedView, extra -> denySetMaterializedViewProperties(materializedView.toString(), extra));
    }

    @Override
    public void checkCanDropMaterializedView(SystemSecurityContext context, CatalogSchemaTableName materializedView)
    {
        write(context, materializedView, extra -> denyDropMaterializedView(materializedView.toString(), extra));
    }

    @Override
    public void checkCanRenameMaterializedView(SystemSecurityContext context, CatalogSchemaTableName view, CatalogSchemaTableName newView)
    {
        write(context, view, extra -> denyRenameMaterializedView(view.toString(), newView.toString(), extra));
        create(context, newView, extra -> denyRenameMaterializedView(view.toString(), newView.toString(), extra));
    }

    @Override
    public void checkCanGrantTablePrivilege(SystemSecurityContext context, Privilege privilege, CatalogSchemaTableName table, TrinoPrincipal grantee, boolean grantOption)
    {
        write(context, table, extra -> denyGrantTablePrivilege(privilege.toString(), table.toString(), extra));
    }

    @Override
    public void checkCanDenyTablePrivilege(SystemSecurityContext context, Privilege privilege, CatalogSchemaTableName table, TrinoPrincipal grantee)
    {
        write(context, table, extra -> denyDenyTablePrivilege(privilege.toString(), table.toString(), extra));
    }

    @Override
    public void checkCanRevokeTablePrivilege(SystemSecurityContext context, Privilege privilege, CatalogSchemaTableName table, TrinoPrincipal revokee, boolean grantOption)
    {
        write(context, table, extra -> denyRevokeTablePrivilege(privilege.toString(), table.toString(), extra));
    }

    @Override
    public void checkCanGrantEntityPrivilege(SystemSecurityContext context, EntityPrivilege privilege, EntityKindAndName entity, TrinoPrincipal grantee, boolean grantOption) {}

    @Override
    public void checkCanDenyEntityPrivilege(SystemSecurityContext context, EntityPrivilege privilege, EntityKindAndName entity, TrinoPrincipal grantee) {}

    @Override
    public void checkCanRevokeEntityPrivilege(SystemSecurityContext context, EntityPrivilege privilege, EntityKindAndName entity, TrinoPrincipal revokee, boolean grantOption) {}

    // --- roles: not governed

    @Override
    public void checkCanShowRoles(SystemSecurityContext context) {}

    @Override
    public void checkCanCreateRole(SystemSecurityContext context, String role, Optional<TrinoPrincipal> grantor) {}

    @Override
    public void checkCanDropRole(SystemSecurityContext context, String role) {}

    @Override
    public void checkCanGrantRoles(SystemSecurityContext context, Set<String> roles, Set<TrinoPrincipal> grantees, boolean adminOption, Optional<TrinoPrincipal> grantor) {}

    @Override
    public void checkCanRevokeRoles(SystemSecurityContext context, Set<String> roles, Set<TrinoPrincipal> grantees, boolean adminOption, Optional<TrinoPrincipal> grantor) {}

    @Override
    public void checkCanShowCurrentRoles(SystemSecurityContext context) {}

    @Override
    public void checkCanShowRoleGrants(SystemSecurityContext context) {}

    // --- routines: a governed catalog's are the run-as user's, and so are a veil catalog's keyed functions (all but reveal)

    @Override
    public void checkCanExecuteProcedure(SystemSecurityContext systemSecurityContext, CatalogSchemaRoutineName procedure)
    {
        if (governor.governs(systemSecurityContext.getIdentity(), procedure.getCatalogName())) {
            denyExecuteProcedure(procedure.toString(), CATALOG_ROUTINE.formatted(procedure.getCatalogName()));
        }
    }

    @Override
    public boolean canExecuteFunction(SystemSecurityContext systemSecurityContext, CatalogSchemaRoutineName functionName)
    {
        return mayRunFunction(systemSecurityContext.getIdentity(), functionName);
    }

    @Override
    public boolean canCreateViewWithExecuteFunction(SystemSecurityContext systemSecurityContext, CatalogSchemaRoutineName functionName)
    {
        return mayRunFunction(systemSecurityContext.getIdentity(), functionName);
    }

    @Override
    public void checkCanShowFunctions(SystemSecurityContext context, CatalogSchemaName schema) {}

    @Override
    public Set<SchemaFunctionName> filterFunctions(SystemSecurityContext context, String catalogName, Set<SchemaFunctionName> functionNames)
    {
        return functionNames;
    }

    @Override
    public void checkCanCreateFunction(SystemSecurityContext systemSecurityContext, CatalogSchemaRoutineName functionName) {}

    @Override
    public void checkCanDropFunction(SystemSecurityContext systemSecurityContext, CatalogSchemaRoutineName functionName) {}

    @Override
    public void checkCanShowCreateFunction(SystemSecurityContext systemSecurityContext, CatalogSchemaRoutineName functionName) {}

    // --- lifecycle

    /** Drops each query's answers when it completes. */
    @Override
    public Iterable<EventListener> getEventListeners()
    {
        return List.of(queries);
    }

    @Override
    public void shutdown()
    {
        onShutdown.run();
    }

    // --- helpers

    private boolean mayManageQueryOf(Identity identity, Identity queryOwner)
    {
        return governor.isRunAs(identity) || identity.getUser().equals(queryOwner.getUser());
    }

    private boolean mayRunFunction(Identity identity, CatalogSchemaRoutineName function)
    {
        if (governor.isRunAs(identity)) {
            return true;
        }
        if (governor.catalogs().isVeilCatalog(function.getCatalogName())) {
            if (!function.getSchemaName().equals(VeilFunctions.SCHEMA)) {
                return true;
            }
            // reveal asks the PDP itself, for the user who calls it. The other functions of schema
            // system are the keyed masks: whoever may call them can hash or encrypt guesses, or
            // decrypt tokens.
            return function.getRoutineName().equals(RevealFunction.NAME);
        }
        return !governor.governs(identity, function.getCatalogName());
    }

    /** A write to an existing table: allowed when Veil leaves it untouched; absent stays absent; governed is read-only. */
    private void write(SystemSecurityContext context, CatalogSchemaTableName table, Consumer<String> deny)
    {
        switch (governor.verdict(context, table)) {
            case TableVerdict.Untouched _ -> {}
            case TableVerdict.Absent _ -> throw Absence.table(table);
            case TableVerdict.Governed _ -> deny.accept(READ_ONLY);
        }
    }

    /** A new name: allowed when Veil would leave the table untouched, refused (saying nothing about why) otherwise. */
    private void create(SystemSecurityContext context, CatalogSchemaTableName table, Consumer<String> deny)
    {
        if (!(governor.verdict(context, table) instanceof TableVerdict.Untouched)) {
            deny.accept(NOT_OPEN.formatted(table.getCatalogName()));
        }
    }

    /** A filter or mask as Trino evaluates it: as the run-as identity, in the table's catalog and schema. */
    private static ViewExpression expression(TableAccess access, CatalogSchemaTableName table, String sql)
    {
        return ViewExpression.builder()
                .identity(access.runAs())
                .catalog(table.getCatalogName())
                .schema(table.getSchemaTableName().getSchemaName())
                .expression(sql)
                .build();
    }
}
