package io.veil.trino;

import io.trino.spi.connector.ConnectorTransactionHandle;

/**
 * The Veil connector holds no transactional state: every transaction is the same.
 */
public enum VeilTransactionHandle
        implements ConnectorTransactionHandle
{
    INSTANCE
}
