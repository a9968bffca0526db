"""The business rules as pure functions and small types: no database, web or GraphQL import."""
