"""Outgoing mail. `enqueue` writes a message to the outbox in the caller's transaction, so it exists exactly when
the change that caused it was committed; `MailSender` delivers the outbox over SMTP, retrying with backoff.

Delivery is at least once: a message is marked SENT only after the SMTP server accepted it, so a process that
dies between the two sends it again later (with the same Message-ID). Several processes may run senders on one
PostgreSQL database: each claims a few due messages at a time (`FOR UPDATE SKIP LOCKED`) by moving their
`next_attempt_at` past the time their sending may take (a lease), sends outside any transaction, then records the
outcome, fenced by the attempt number it claimed. A lease left by a dead process simply runs out.

With no SMTP server configured (`MCI_SMTP_URL` unset) each message is written to the `mci.mail` log at INFO,
links included, and marked SENT. In production (`MCI_ENV=production`) logs never carry an address or a body: only
the recipient's domain and the subject.
"""

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import aiosmtplib
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.clock import Clock
from app.config import Settings
from app.db import transaction
from app.models.mail import MailMessage

logger = logging.getLogger("mci.mail")

BATCH_SIZE = 5
"""Messages one sender claims at a time."""
LEASE_MARGIN = timedelta(seconds=60)
"""Beyond the longest time sending may take: time to record the outcome."""
DEFAULT_SMTP_TIMEOUT = 30.0
ERROR_MAX_CHARS = 2000


class MailStatus(StrEnum):
    PENDING = "PENDING"
    SENT = "SENT"
    FAILED = "FAILED"


@dataclass(frozen=True)
class Message:
    recipient: str
    subject: str
    text: str
    html: str


async def enqueue(
    session: AsyncSession, message: Message, now: datetime, *, consent_request_id: int | None = None
) -> MailMessage:
    """Add the message to the outbox in the caller's transaction (flushed, not committed). After the commit, call
    `MailSender.wake()` so it goes out at once rather than at the next poll."""
    row = MailMessage(
        recipient=message.recipient,
        subject=message.subject,
        text_body=message.text,
        html_body=message.html,
        status=MailStatus.PENDING.value,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        consent_request_id=consent_request_id,
    )
    session.add(row)
    await session.flush()
    return row


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _flag(name: str, value: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ValueError(f"MCI_SMTP_URL: {name} must be true or false, not {value!r}")


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to send, from `MCI_SMTP_URL`:

    `smtp://[user[:password]@]host[:port]` (port 25; STARTTLS when the server offers it), `smtps://…` (implicit
    TLS, port 465). User and password are URL-decoded (`%40` for `@`). Query options: `starttls=true` (require
    STARTTLS) or `starttls=false` (never), `verify=false` (accept any server certificate), `timeout=SECONDS`
    (for one whole send; default 30)."""

    hostname: str
    port: int
    use_tls: bool = False
    start_tls: bool | None = None
    username: str | None = None
    password: str | None = None
    validate_certs: bool = True
    timeout: float = DEFAULT_SMTP_TIMEOUT

    @classmethod
    def from_url(cls, url: str) -> "SmtpConfig":
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        if scheme not in ("smtp", "smtps"):
            raise ValueError("MCI_SMTP_URL must start with smtp:// or smtps://")
        if not parts.hostname:
            raise ValueError("MCI_SMTP_URL names no host")
        try:
            port = parts.port
        except ValueError as error:
            raise ValueError(f"MCI_SMTP_URL: bad port ({error})") from None
        use_tls = scheme == "smtps"
        start_tls: bool | None = None
        validate_certs = True
        timeout = DEFAULT_SMTP_TIMEOUT
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            key = name.lower()
            if key == "starttls":
                start_tls = _flag(name, value)
            elif key == "verify":
                validate_certs = _flag(name, value)
            elif key == "timeout":
                try:
                    timeout = float(value)
                except ValueError:
                    raise ValueError(
                        f"MCI_SMTP_URL: timeout must be a number of seconds, not {value!r}"
                    ) from None
                if not timeout > 0:
                    raise ValueError("MCI_SMTP_URL: timeout must be positive")
            else:
                raise ValueError(f"MCI_SMTP_URL: unknown option {name!r} (starttls, verify, timeout)")
        if use_tls and start_tls:
            raise ValueError("MCI_SMTP_URL: smtps:// is TLS from the start; starttls=true needs smtp://")
        if use_tls:
            start_tls = False
        username = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password is not None else None
        if username is not None and password is None:
            password = ""
        return cls(
            hostname=parts.hostname,
            port=port or (465 if use_tls else 25),
            use_tls=use_tls,
            start_tls=start_tls,
            username=username,
            password=password,
            validate_certs=validate_certs,
            timeout=timeout,
        )

    def describe(self) -> str:
        """The server, without the password, for logs."""
        user = f"{self.username}@" if self.username else ""
        return f"{'smtps' if self.use_tls else 'smtp'}://{user}{self.hostname}:{self.port}"


@dataclass(frozen=True)
class _Claimed:
    """What a sender took from one outbox row: enough to send it and to record the outcome."""

    id: int
    attempt: int
    recipient: str
    subject: str
    text: str
    html: str
    created_at: datetime


def backoff(attempt: int, base_seconds: float, max_seconds: float) -> timedelta:
    """The wait after the `attempt`-th failed attempt (1-based): base, 2 * base, 4 * base... at most max."""
    return timedelta(seconds=min(base_seconds * 2 ** min(max(attempt - 1, 0), 60), max_seconds))


class MailSender:
    """Delivers the outbox. `start()` runs it in the background; `wake()` after committing new mail; `stop()`."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock) -> None:
        self._sessions = sessions
        self._settings = settings
        self._clock = clock
        self._smtp = SmtpConfig.from_url(settings.smtp_url) if settings.smtp_url else None
        name, address = parseaddr(settings.mail_from)
        if "@" not in address:
            raise ValueError(f"MCI_MAIL_FROM has no email address: {settings.mail_from!r}")
        self._from_address = address
        self._message_id_domain = address.rpartition("@")[2] or "localhost"
        # Checked here so a bad setting stops the server at start rather than failing each message.
        self._from_header = str(Address(display_name=name, addr_spec=address))
        # A send never takes longer than this: it bounds the lease on each claimed message.
        self._send_deadline = timedelta(seconds=self._smtp.timeout if self._smtp else 1)
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    # The background task

    def wake(self) -> None:
        """Deliver now rather than at the next poll. Call it from the event loop the sender runs on."""
        self._wake.set()

    def start(self) -> None:
        """Run `run()` as a task on the running event loop (call from async code, e.g. the app lifespan)."""
        if self._task is not None and not self._task.done():
            raise RuntimeError("the mail sender is already running")
        self._stopping = False
        if self._smtp is None:
            logger.info("no SMTP server configured (MCI_SMTP_URL): mail is written to this log")
        else:
            logger.info("sending mail through %s", self._smtp.describe())
        self._task = asyncio.get_running_loop().create_task(self.run(), name="mci-mail-sender")

    async def stop(self) -> None:
        """Stop the task. A send under way finishes and is recorded; messages claimed but not yet sent are handed
        back for the next sender. Cancels the task if it does not finish in time."""
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is None:
            return
        grace = self._send_deadline.total_seconds() + 10
        try:
            await asyncio.wait_for(asyncio.shield(task), grace)
        except TimeoutError:
            logger.warning("the mail sender did not stop within %.0f s; cancelling it", grace)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def run(self) -> None:
        """Deliver what is due, then wait for `wake()` or the poll interval; until `stop()`. Survives errors."""
        while not self._stopping:
            self._wake.clear()
            try:
                await self.deliver_due()
            except Exception:
                logger.exception("delivering mail failed; retrying in %s s", self._settings.mail_poll_seconds)
            if self._stopping:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._settings.mail_poll_seconds)

    # Delivery

    async def deliver_due(self) -> int:
        """Try each message due now once; returns how many were delivered (marked SENT)."""
        cutoff = self._clock.now()
        delivered = 0
        while not self._stopping:
            batch = await self._claim(cutoff)
            if not batch:
                break
            for index, claimed in enumerate(batch):
                if self._stopping:
                    await self._release(batch[index:])
                    return delivered
                delivered += await self._deliver(claimed)
        return delivered

    async def _claim(self, cutoff: datetime) -> list[_Claimed]:
        """Take up to BATCH_SIZE due messages: count the attempt and lease each for as long as sending it, after
        those before it in the batch, may take."""
        async with transaction(self._sessions, write=True) as session:
            statement = (
                select(MailMessage)
                .where(
                    MailMessage.status == MailStatus.PENDING.value,  # type: ignore[arg-type]
                    MailMessage.next_attempt_at <= cutoff,  # type: ignore[arg-type]
                )
                .order_by(MailMessage.next_attempt_at, MailMessage.id)  # type: ignore[arg-type]
                .limit(BATCH_SIZE)
            )
            if session.get_bind().dialect.name == "postgresql":
                # SQLite needs no row locks: `write=True` began the transaction holding the database's write lock.
                statement = statement.with_for_update(skip_locked=True)
            rows = list((await session.execute(statement)).scalars())
            now = self._clock.now()
            claimed = []
            for position, row in enumerate(rows, start=1):
                assert row.id is not None
                row.attempts += 1
                row.next_attempt_at = now + position * self._send_deadline + LEASE_MARGIN
                claimed.append(
                    _Claimed(
                        id=row.id,
                        attempt=row.attempts,
                        recipient=row.recipient,
                        subject=row.subject,
                        text=row.text_body,
                        html=row.html_body,
                        created_at=row.created_at,
                    )
                )
            return claimed

    async def _deliver(self, claimed: _Claimed) -> int:
        try:
            email = self._compose(claimed)
        except (ValueError, TypeError) as error:
            # The message itself is unsendable (say, a line break in the recipient): no retry will help.
            await self._record(claimed, _describe(error), permanent=True)
            return 0
        if self._smtp is None:
            if self._production:
                logger.info("mail (no SMTP server configured) to %s: %s", self._to(claimed), claimed.subject)
            else:
                logger.info(
                    "mail (no SMTP server configured) to %s: %s\n%s",
                    claimed.recipient,
                    claimed.subject,
                    claimed.text,
                )
            await self._record(claimed, None)
            return 1
        try:
            async with asyncio.timeout(self._smtp.timeout):
                await aiosmtplib.send(
                    email,
                    sender=self._from_address,
                    recipients=[claimed.recipient],
                    hostname=self._smtp.hostname,
                    port=self._smtp.port,
                    username=self._smtp.username,
                    password=self._smtp.password,
                    use_tls=self._smtp.use_tls,
                    start_tls=self._smtp.start_tls,
                    validate_certs=self._smtp.validate_certs,
                    timeout=self._smtp.timeout,
                )
        except TimeoutError:
            await self._record(claimed, f"TimeoutError: no answer within {self._smtp.timeout:g} s")
            return 0
        except Exception as error:
            await self._record(claimed, _describe(error))
            return 0
        await self._record(claimed, None)
        return 1

    @property
    def _production(self) -> bool:
        return self._settings.env == "production"

    def _to(self, claimed: _Claimed) -> str:
        """The recipient for a log line: in production only its domain."""
        return f"*@{claimed.recipient.rpartition('@')[2]}" if self._production else claimed.recipient

    def _scrub(self, claimed: _Claimed, error: str) -> str:
        """An SMTP error for a log line: servers often quote the address, which production logs must not."""
        return error.replace(claimed.recipient, self._to(claimed)) if self._production else error

    def _compose(self, claimed: _Claimed) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self._from_header
        email["To"] = claimed.recipient
        email["Subject"] = claimed.subject
        email["Date"] = format_datetime(claimed.created_at)
        # The same on every attempt, so a receiver can recognise a message delivered twice.
        stamp = int(claimed.created_at.timestamp() * 1_000_000)
        email["Message-ID"] = f"<mci.{claimed.id}.{stamp}@{self._message_id_domain}>"
        email.set_content(claimed.text)
        email.add_alternative(claimed.html, subtype="html")
        return email

    async def _record(self, claimed: _Claimed, error: str | None, *, permanent: bool = False) -> None:
        now = self._clock.now()
        values: dict[str, Any]
        if error is None:
            values = {"status": MailStatus.SENT.value, "sent_at": now}
        elif permanent or claimed.attempt >= self._settings.mail_max_attempts:
            values = {"status": MailStatus.FAILED.value, "last_error": error, "next_attempt_at": now}
            logger.error(
                "mail %s to %s failed for good after %s attempt(s): %s",
                claimed.id,
                self._to(claimed),
                claimed.attempt,
                self._scrub(claimed, error),
            )
        else:
            wait = backoff(
                claimed.attempt, self._settings.mail_retry_base_seconds, self._settings.mail_retry_max_seconds
            )
            values = {"last_error": error, "next_attempt_at": now + wait}
            logger.warning(
                "mail %s to %s: attempt %s failed (%s); next in %.0f s",
                claimed.id,
                self._to(claimed),
                claimed.attempt,
                self._scrub(claimed, error),
                wait.total_seconds(),
            )
        if await self._update(claimed, values) == 0:
            logger.warning("mail %s: another sender took it over before its outcome was recorded", claimed.id)

    async def _release(self, batch: Sequence[_Claimed]) -> None:
        """Hand messages claimed but not attempted back: due now, the attempt not counted."""
        now = self._clock.now()
        for claimed in batch:
            await self._update(claimed, {"attempts": claimed.attempt - 1, "next_attempt_at": now})

    async def _update(self, claimed: _Claimed, values: dict[str, Any]) -> int:
        """Change the row only while it is still this claim's: PENDING at the attempt number claimed."""
        async with transaction(self._sessions, write=True) as session:
            result = await session.execute(
                update(MailMessage)
                .where(
                    MailMessage.id == claimed.id,  # type: ignore[arg-type]
                    MailMessage.status == MailStatus.PENDING.value,  # type: ignore[arg-type]
                    MailMessage.attempts == claimed.attempt,  # type: ignore[arg-type]
                )
                .values(**values)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]


def _describe(error: BaseException) -> str:
    detail = str(error).strip()
    text = f"{type(error).__name__}: {detail}" if detail else type(error).__name__
    return text[:ERROR_MAX_CHARS]
