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

ADD_CUSTOMER = """mutation Add($input: AddCustomerInput!) {
  addCustomer(input: $input) { claims { id } userErrors { code } }
}"""

SUBSCRIBE = """subscription { claimStatusChanged { id toStatus } }"""
