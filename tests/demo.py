"""Names from the shipped demo data (app/data/demo.json) that tests rely on."""

CONTOSO_ADMIN = "admin@contoso-partners.example"
CONTOSO_SELLER = "seller@contoso-partners.example"  # INCENTIVES_USER for location 4100102 only
CONTOSO_LOCATIONS = {"4100101", "4100102", "4100103", "4100104"}
CONTOSO_SELLER_LOCATION = "4100102"
FABRIKAM_ADMIN = "admin@fabrikam-consulting.example"
FABRIKAM_LOCATIONS = {"4200201", "4200202", "4200203", "4200204", "4200205"}
ENGAGEMENT_COUNT = 15
