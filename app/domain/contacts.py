"""Contacts on a claim: the customer's (who answers the consent email) and the partner's own."""

import re
from dataclasses import dataclass

from app.domain.text import CONTROL_MESSAGE, has_control_characters

# Pragmatic, not RFC 5322: one @, no spaces, a dotted domain. The SMTP server is the final judge.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MAX_NAME = 100
MAX_EMAIL = 254
# Who did something to a claim, as its history keeps it: a customer's full name (two names and a space), a
# partner user's name (200 in the reference data) or a reviewer's from its token, cut to this.
MAX_ACTOR_NAME = 254
assert MAX_ACTOR_NAME >= 2 * MAX_NAME + 1
MAX_PHONE = 40
MAX_JOB_TITLE = 100


@dataclass(frozen=True)
class Contact:
    first_name: str
    last_name: str
    email: str
    phone: str | None = None
    job_title: str | None = None


@dataclass(frozen=True)
class ContactProblem:
    field: str  # the contact field at fault, e.g. "email"
    message: str


def normalise_contact(contact: Contact) -> Contact:
    """Trimmed text, a lower-cased email, empty optionals as None."""
    return Contact(
        first_name=contact.first_name.strip(),
        last_name=contact.last_name.strip(),
        email=contact.email.strip().lower(),
        phone=(contact.phone or "").strip() or None,
        job_title=(contact.job_title or "").strip() or None,
    )


def contact_problems(contact: Contact) -> list[ContactProblem]:
    """What is wrong with a (normalised) contact: names and email required, lengths bounded."""
    problems = []
    fields = {
        "firstName": contact.first_name,
        "lastName": contact.last_name,
        "email": contact.email,
        "phone": contact.phone,
        "jobTitle": contact.job_title,
    }
    controlled = {field for field, value in fields.items() if value and has_control_characters(value)}
    problems += [ContactProblem(field, CONTROL_MESSAGE) for field in fields if field in controlled]
    for field, value in (("firstName", contact.first_name), ("lastName", contact.last_name)):
        if not value:
            problems.append(ContactProblem(field, "A name is required."))
        elif len(value) > MAX_NAME:
            problems.append(ContactProblem(field, f"At most {MAX_NAME} characters."))
    if not _EMAIL.fullmatch(contact.email) or len(contact.email) > MAX_EMAIL:
        problems.append(
            ContactProblem("email", "A valid email address is required, such as name@contoso.com.")
        )
    if contact.phone is not None and len(contact.phone) > MAX_PHONE:
        problems.append(ContactProblem("phone", f"At most {MAX_PHONE} characters."))
    if contact.job_title is not None and len(contact.job_title) > MAX_JOB_TITLE:
        problems.append(ContactProblem("jobTitle", f"At most {MAX_JOB_TITLE} characters."))
    # One problem per field: control characters first, they make the rest moot.
    return [p for p in problems if p.field not in controlled or p.message == CONTROL_MESSAGE]
