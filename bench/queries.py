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

SUBSCRIBE = """subscription { claimStatusChanged { id toStatus } }"""
