"""The mail outbox: a message is written here in the transaction that decided to send it, then delivered."""

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, Integer, Text
from sqlmodel import Field, SQLModel

from app.models.types import UTCDateTime


class MailMessage(SQLModel, table=True):
    """One outgoing message. PENDING until delivered (SENT) or given up after the last attempt (FAILED).

    `attempts` counts the deliveries started; it also fences a sender's outcome against a claim that expired and
    was taken over. While a sender holds a message, `next_attempt_at` is its lease."""

    __tablename__ = "mail_outbox"
    __table_args__ = (Index("ix_mail_outbox_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    recipient: str = Field(max_length=254)
    subject: str = Field(max_length=998)
    text_body: str = Field(sa_column=Column(Text, nullable=False))
    html_body: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(max_length=10, description="PENDING, SENT or FAILED")
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    consent_request_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer, ForeignKey("consent_request.id", ondelete="SET NULL"), nullable=True, index=True
        ),
    )
