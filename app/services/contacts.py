"""Contacts as the API takes them and as a claim stores them."""

from app.domain.contacts import Contact, contact_problems, normalise_contact
from app.services.problems import ErrorCode, Problem


def contact_record(contact: Contact) -> dict[str, str | None]:
    """The normalised contact, as stored on a claim (the API's field names)."""
    c = normalise_contact(contact)
    return {
        "firstName": c.first_name,
        "lastName": c.last_name,
        "email": c.email,
        "phone": c.phone,
        "jobTitle": c.job_title,
    }


def contact_input_problems(contacts: dict[str, Contact | None]) -> list[Problem]:
    """What is wrong with each given contact, by its input field (`customerContact`, `partnerContact`)."""
    return [
        Problem(ErrorCode.INVALID_INPUT, ("input", field, p.field), p.message)
        for field, contact in contacts.items()
        if contact is not None
        for p in contact_problems(normalise_contact(contact))
    ]
