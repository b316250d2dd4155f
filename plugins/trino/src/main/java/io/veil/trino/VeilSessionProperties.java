package io.veil.trino;

import io.trino.spi.session.PropertyMetadata;

import java.util.List;

import static io.trino.spi.session.PropertyMetadata.stringProperty;

/**
 * The catalog session properties of a Veil catalog: {@code SET SESSION veil.project = 'fraud-2026'}.
 */
public final class VeilSessionProperties
{
    public static final String PROJECT = "project";

    private VeilSessionProperties() {}

    public static List<PropertyMetadata<?>> all()
    {
        return List.of(stringProperty(
                PROJECT,
                "Project the user acts under; the policy decision point checks membership",
                "",
                false));
    }
}
