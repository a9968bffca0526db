"""Names from the shipped demo data (app/data/demo.json) that tests rely on."""

CONTOSO_ADMIN = "admin@contoso-partners.example"
CONTOSO_SELLER = "seller@contoso-partners.example"  # INCENTIVES_USER for location 4100102 only
CONTOSO_LOCATIONS = {"4100101", "4100102", "4100103", "4100104"}
CONTOSO_SELLER_LOCATION = "4100102"
FABRIKAM_ADMIN = "admin@fabrikam-consulting.example"
FABRIKAM_LOCATIONS = {"4200201", "4200202", "4200203", "4200204", "4200205"}
ENGAGEMENT_COUNT = 16
ADELE = "adele.vance@contoso-partners.example"  # INCENTIVES_USER for locations 4100101 and 4100103
FABRIKAM_USER = "user@fabrikam-consulting.example"  # INCENTIVES_USER for location 4200202 only
LITWARE_ADMIN = "admin@litware-cloud.example"
LITWARE_SALES = "sales@litware-cloud.example"  # INCENTIVES_USER for location 4300301 only

# Contoso's locations: Seattle (US, enrolled, eligible for every engagement), Toronto (CA, enrolled, eligible
# for some), London (GB, enrolled), Mexico City (MX, not enrolled, eligible for none).
SEATTLE, TORONTO, LONDON, MEXICO_CITY = "4100101", "4100102", "4100103", "4100104"
BERLIN = "4200201"  # Fabrikam, DE, enrolled
CHICAGO = "4300301"  # Litware, US, enrolled

# The customer directory: Northwind Traders (US, Enterprise) by each of its identifiers.
NORTHWIND_TENANT = "1524eee5-40ea-565d-b6dc-dc79797786c9"
NORTHWIND_DOMAIN = "northwindtraders.example"
NORTHWIND_OTHER_DOMAIN = "northwind.example"
NORTHWIND_TPID = "5500101"
NORTHWIND_SUBSCRIPTION = "7ab2aa36-c32e-5514-8e5c-efc2f4fa33ca"
NORTHWIND_OPPORTUNITY = "7-3FS2XQBWAO"  # OPEN, deal size 250 000
ADATUM_DOMAIN = "adatum.example"  # US, Corporate
ADATUM_OPPORTUNITY = "7-1K8D2MZQPL"  # OPEN, deal size 1 200 000
TAILWIND_OPPORTUNITY = "7-9QW7ERTY12"  # OPEN, deal size 20 000
RELECLOUD_LOST_OPPORTUNITY = "7-2LKJH6GF4D"  # LOST, deal size 500 000
PROSEWARE_TENANT = "6c9d044d-031e-5800-b08c-d9f13072cd16"  # IN, Corporate

# Deals in other currencies (the demo's rates: EUR 1.08, GBP 1.27, CAD 0.73, JPY 0.0067 USD; none for CHF).
VANARSDEL_JPY_OPPORTUNITY = "7-VAN10MJPY"  # VanArsdel (JP), OPEN, 10 000 000 JPY (67 000 USD)
SOUTHRIDGE_JPY_OPPORTUNITY = "7-SRV5MJPY"  # Southridge Video (JP), OPEN, 5 000 000 JPY (33 500 USD)
LUCERNE_EUR_OPPORTUNITY = "7-LUC400KEUR"  # Lucerne Publishing (DE), OPEN, 400 000 EUR
FIRST_UP_CHF_OPPORTUNITY = "7-FUC250KCHF"  # First Up Consultants (DE), OPEN, 250 000 CHF: no rate
WOODGROVE_OPPORTUNITY = "7-5ZX4CV8BNM"  # Woodgrove Bank (GB), OPEN, 850 000 USD
EMEA_MIGRATE = "azure-migrate-emea"  # variable pay in EUR: minimum 45 000 EUR; UK, Germany, France
