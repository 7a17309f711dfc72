"""The GraphQL layer: Strawberry types, thin resolvers, context, extensions, HTTP endpoint."""
