"""SalesFlow GraphQL analytics gateway."""
