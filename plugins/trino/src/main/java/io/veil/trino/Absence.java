package io.veil.trino;

import io.trino.spi.TrinoException;
import io.trino.spi.connector.CatalogSchemaTableName;

import static io.trino.spi.StandardErrorCode.COLUMN_NOT_FOUND;
import static io.trino.spi.StandardErrorCode.TABLE_NOT_FOUND;

/**
 * The errors of a table or column the user may not see: those Trino's analyzer reports for one that
 * does not exist, with the same error code and message. The only difference is that the analyzer's
 * error carries the query text's position ({@code line 1:15: } before the message, and an error
 * location), which an access control is never told.
 */
final class Absence
{
    private Absence() {}

    static TrinoException table(CatalogSchemaTableName table)
    {
        return new TrinoException(TABLE_NOT_FOUND, "Table '%s' does not exist".formatted(table));
    }

    static TrinoException column(String column)
    {
        return new TrinoException(COLUMN_NOT_FOUND, "Column '%s' cannot be resolved".formatted(column));
    }
}
