"""Which variables split a subscription group: every one used by what an event's result holds, none that only
choose the events (the root field's arguments)."""

from graphql import FieldNode, FragmentDefinitionNode, OperationDefinitionNode, parse

from app.resolvers.subscriptions import _variables_used

DOCUMENT = """
subscription($engagementId: ID, $after: String, $first: Int, $withClaim: Boolean!, $skip: Boolean!, $n: Int) {
  claimStatusChanged(engagementId: $engagementId, after: $after) @skip(if: $skip) {
    id
    claim @include(if: $withClaim) { history(first: $first) { totalCount } }
    ...More
  }
}
fragment More on ClaimEvent { claim { history(last: $n) { totalCount } } }
"""


def test_variables_under_the_root_field_split_groups_and_its_arguments_do_not():
    document = parse(DOCUMENT)
    [operation] = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = [d for d in document.definitions if isinstance(d, FragmentDefinitionNode)]
    [root] = [s for s in operation.selection_set.selections if isinstance(s, FieldNode)]
    assert _variables_used(operation, fragments, [root]) == {"first", "withClaim", "skip", "n"}
