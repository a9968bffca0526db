"""Top-level GraphQL errors, each with a stable `extensions.code`."""

from graphql import GraphQLError

from app.domain.text import search_problem


def unauthenticated(message: str = "Authentication required: send a bearer token.") -> GraphQLError:
    return GraphQLError(message, extensions={"code": "UNAUTHENTICATED"})


def forbidden(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "FORBIDDEN"})


def bad_user_input(message: str, argument: str | None = None) -> GraphQLError:
    extensions: dict[str, object] = {"code": "BAD_USER_INPUT"}
    if argument:
        extensions["argument"] = argument
    return GraphQLError(message, extensions=extensions)


def check_search(value: str | None, argument: str) -> None:
    """A search argument the database can run (domain/text.search_problem), else BAD_USER_INPUT naming it."""
    if (problem := search_problem(value)) is not None:
        raise bad_user_input(f"`{argument}`: {problem}", argument)
