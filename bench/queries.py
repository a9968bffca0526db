"""The operations the benchmarks send."""

CUSTOMERS_PAGE = """query CustomersPage($id: ID!, $first: Int!, $after: String) {
  engagement(id: $id) {
    customers(tab: ELIGIBLE, first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      edges {
        cursor
        node { id name tenantId identifier { idType value } identifiers { idType value } }
        claim {
          id claimNumber status deadline
          consentRequest { sendCount lastSentAt expiresAt }
        }
        availableActions
        deadline
        daysRemaining
      }
    }
  }
}"""

# The same page without `totalCount`: the total is the one part of the page that costs every known customer
# (app/services/customers_page.py, cost model); without it the page costs the page.
CUSTOMERS_PAGE_NO_TOTAL = CUSTOMERS_PAGE.replace("      totalCount\n", "")
assert CUSTOMERS_PAGE_NO_TOTAL != CUSTOMERS_PAGE

ADD_CUSTOMER = """mutation Add($input: AddCustomerInput!) {
  addCustomer(input: $input) { claims { id } userErrors { code } }
}"""

# Event fields only: `claim { … }` would read the claim once per subscriber per event (fresh loaders each).
SUBSCRIBE = """subscription { claimStatusChanged { id cursor action fromStatus toStatus occurredAt } }"""

# Scenario 6's writer: the created claim's first event id, to match what the subscribers receive.
ADD_CUSTOMER_EVENT = """mutation Add($input: AddCustomerInput!) {
  addCustomer(input: $input) { claims { id history(first: 1) { edges { node { id } } } } userErrors { code } }
}"""
