"""The committed SDL is the code's schema, and GraphiQL documents every part of it."""

from pathlib import Path

from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType

from app.resolvers.schema import schema

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"


def test_committed_schema_matches_the_code():
    assert SCHEMA_FILE.read_text().strip() == schema.as_str().strip(), (
        "schema.graphql is stale: run `mci export-schema > schema.graphql` and commit it"
    )


def test_every_type_field_argument_and_value_is_described():
    undocumented = []
    for name, type_ in schema._schema.type_map.items():
        if name.startswith("__") or name in {"String", "Int", "Float", "Boolean", "ID"}:
            continue
        if not type_.description:
            undocumented.append(name)
        if isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in type_.fields.items():
                if not field.description:
                    undocumented.append(f"{name}.{field_name}")
                undocumented += [
                    f"{name}.{field_name}({a})" for a, arg in field.args.items() if not arg.description
                ]
        if isinstance(type_, GraphQLInputObjectType):
            undocumented += [f"{name}.{f}" for f, field in type_.fields.items() if not field.description]
        if isinstance(type_, GraphQLEnumType):
            undocumented += [f"{name}.{v}" for v, value in type_.values.items() if not value.description]
    assert undocumented == []
