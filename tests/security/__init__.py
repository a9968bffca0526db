"""Security: isolation between partners, locations and roles; query limits; persisted queries; production
mode; fuzzing; faults."""
