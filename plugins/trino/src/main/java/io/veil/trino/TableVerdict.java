package io.veil.trino;

import static java.util.Objects.requireNonNull;

/**
 * What Veil makes of one backing table for one identity: left untouched, read as absent, or
 * governed with the PDP's answer (visible, with its columns, filters and masks).
 */
public sealed interface TableVerdict
{
    /** Veil does not restrict this table: the run-as user, a catalog Veil does not govern, an allowed unregistered table. */
    record Untouched()
            implements TableVerdict {}

    /** The table reads exactly like one that does not exist: not visible to the user, or unregistered and denied. */
    record Absent()
            implements TableVerdict {}

    /** A governed table the user may see, on the PDP's terms. */
    record Governed(TableAccess access)
            implements TableVerdict
    {
        public Governed
        {
            requireNonNull(access, "access is null");
        }
    }

    TableVerdict UNTOUCHED = new Untouched();
    TableVerdict ABSENT = new Absent();
}
