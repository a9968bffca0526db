"""The GraphQL layer: types, inputs, payloads, resolvers and loaders. Thin: it maps GraphQL to services and back."""
