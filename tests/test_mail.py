"""The mail outbox and its sender, against a real SMTP server (aiosmtpd) on a free port."""

import asyncio
import email
import logging
import socket
import threading
from collections.abc import AsyncIterator
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import func, select

from app.clock import Clock
from app.config import Settings
from app.db import transaction
from app.mail import MailSender, MailStatus, Message, SmtpConfig, backoff, enqueue
from app.models import MailMessage
from tests.conftest import Database

LINK = "http://127.0.0.1:8000/consent?token=" + "Ab0-_" * 30 + "&answer=yes"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Inbox:
    """An aiosmtpd handler keeping every message it accepts."""

    def __init__(self, delay: float = 0) -> None:
        self.delay = delay
        self.received: list[tuple[str, list[str], EmailMessage]] = []
        self.logins: list[tuple[bytes, bytes]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        parsed = email.message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        with self._lock:
            self.received.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login, data.password))
        valid = (data.login, data.password) == (b"mailer@mci.example", b"p@ss:w/rd")
        return AuthResult(success=valid, handled=False)


class SmtpServer:
    """A local SMTP server that can be stopped and started again on the same port."""

    def __init__(self, inbox: Inbox, **options: Any) -> None:
        self.inbox = inbox
        self.port = _free_port()
        self.options = options
        self.controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, **self.options)
        await asyncio.to_thread(self.controller.start)

    async def stop(self) -> None:
        if self.controller is not None:
            await asyncio.to_thread(self.controller.stop)
            self.controller = None


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    server = SmtpServer(Inbox())
    await server.start()
    yield server
    await server.stop()


def _settings(database: Database, smtp_url: str | None, **overrides: Any) -> Settings:
    return Settings(database_url=database.url, smtp_url=smtp_url, **overrides)


def _message(n: int = 0) -> Message:
    return Message(
        recipient=f"customer{n}@contoso.example",
        subject=f"Contoso Partner asks for your consent: Förderung {n}",
        text=f"Hello Ana,\n\nAccept or decline here:\n{LINK}\n\nThe link works once.\n",
        html=f'<p>Hello Ana,</p><p><a href="{LINK.replace("&", "&amp;")}">Accept or decline</a></p>',
    )


async def _enqueue(database: Database, clock: Clock, *messages: Message) -> list[int]:
    async with transaction(database.sessions, write=True) as session:
        rows = [await enqueue(session, message, clock.now()) for message in messages]
    return [row.id for row in rows if row.id is not None]


async def _row(database: Database, id_: int) -> MailMessage:
    async with database.sessions() as session:
        row = await session.get(MailMessage, id_)
    assert row is not None
    return row


async def test_a_message_is_delivered_with_both_parts(empty_database: Database, smtp: SmtpServer) -> None:
    clock = Clock()
    [id_] = await _enqueue(empty_database, clock, _message())
    row = await _row(empty_database, id_)
    assert (row.status, row.attempts, row.next_attempt_at) == (MailStatus.PENDING, 0, row.created_at)

    sender = MailSender(empty_database.sessions, _settings(empty_database, smtp.url), clock)
    assert await sender.deliver_due() == 1

    [(mail_from, rcpt_tos, received)] = smtp.inbox.received
    assert mail_from == "no-reply@mci.example"
    assert rcpt_tos == ["customer0@contoso.example"]
    assert received["From"] == "MCI Engagements <no-reply@mci.example>"
    assert received["To"] == "customer0@contoso.example"
    assert received["Subject"] == "Contoso Partner asks for your consent: Förderung 0"
    assert received["Message-ID"].endswith("@mci.example>")
    assert received["Date"]
    assert received.get_content_type() == "multipart/alternative"
    text = received.get_body(("plain",))
    html = received.get_body(("html",))
    assert text is not None and html is not None
    assert LINK in text.get_content()
    assert f'href="{LINK.replace("&", "&amp;")}"' in html.get_content()

    row = await _row(empty_database, id_)
    assert (row.status, row.attempts, row.last_error) == (MailStatus.SENT, 1, None)
    assert row.sent_at is not None and row.sent_at >= row.created_at
    assert await sender.deliver_due() == 0
    assert len(smtp.inbox.received) == 1


async def test_a_message_waits_for_a_server_that_is_down(empty_database: Database, smtp: SmtpServer) -> None:
    clock = Clock()
    await smtp.stop()
    [id_] = await _enqueue(empty_database, clock, _message())
    sender = MailSender(empty_database.sessions, _settings(empty_database, smtp.url), clock)

    before = clock.now()
    assert await sender.deliver_due() == 0
    row = await _row(empty_database, id_)
    assert (row.status, row.attempts, row.sent_at) == (MailStatus.PENDING, 1, None)
    assert row.last_error
    assert before + timedelta(seconds=5) <= row.next_attempt_at <= clock.now() + timedelta(seconds=5)
    assert await sender.deliver_due() == 0  # not due yet: nothing tried
    assert (await _row(empty_database, id_)).attempts == 1

    clock.advance(timedelta(seconds=6))
    assert await sender.deliver_due() == 0
    row = await _row(empty_database, id_)
    assert (row.status, row.attempts) == (MailStatus.PENDING, 2)
    assert row.next_attempt_at >= clock.now() + timedelta(seconds=9)  # the wait doubled

    await smtp.start()
    assert await sender.deliver_due() == 0  # still waiting
    clock.advance(timedelta(seconds=11))
    assert await sender.deliver_due() == 1
    assert await sender.deliver_due() == 0
    assert [rcpt for _from, rcpt, _mail in smtp.inbox.received] == [["customer0@contoso.example"]]
    row = await _row(empty_database, id_)
    assert (row.status, row.attempts) == (MailStatus.SENT, 3)
    assert row.last_error  # the last error stays on record


async def test_a_message_fails_after_the_last_attempt(empty_database: Database, smtp: SmtpServer) -> None:
    clock = Clock()
    await smtp.stop()
    [id_] = await _enqueue(empty_database, clock, _message())
    sender = MailSender(
        empty_database.sessions, _settings(empty_database, smtp.url, mail_max_attempts=2), clock
    )
    assert await sender.deliver_due() == 0
    clock.advance(timedelta(seconds=6))
    assert await sender.deliver_due() == 0
    row = await _row(empty_database, id_)
    assert (row.status, row.attempts) == (MailStatus.FAILED, 2)
    assert row.last_error

    await smtp.start()
    clock.advance(timedelta(hours=1))
    assert await sender.deliver_due() == 0
    assert smtp.inbox.received == []


def test_backoff_doubles_up_to_the_maximum() -> None:
    assert [backoff(n, 5, 900).total_seconds() for n in (1, 2, 3, 8, 9, 20, 10_000)] == [
        5,
        10,
        20,
        640,
        900,
        900,
        900,
    ]


async def test_without_smtp_the_message_is_logged_and_marked_sent(
    empty_database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mci.mail")
    clock = Clock()
    [id_] = await _enqueue(empty_database, clock, _message())
    sender = MailSender(empty_database.sessions, _settings(empty_database, None), clock)
    assert await sender.deliver_due() == 1

    [record] = [r for r in caplog.records if r.name == "mci.mail" and r.levelno == logging.INFO]
    logged = record.getMessage()
    assert "customer0@contoso.example" in logged
    assert "Contoso Partner asks for your consent: Förderung 0" in logged
    assert LINK in logged
    row = await _row(empty_database, id_)
    assert (row.status, row.attempts) == (MailStatus.SENT, 1)


async def test_mail_of_a_rolled_back_transaction_is_never_sent(
    empty_database: Database, smtp: SmtpServer
) -> None:
    clock = Clock()
    with pytest.raises(RuntimeError):
        async with transaction(empty_database.sessions, write=True) as session:
            row = await enqueue(session, _message(), clock.now())
            assert row.id is not None
            raise RuntimeError("the claim change failed")
    async with empty_database.sessions() as session:
        assert (await session.execute(select(func.count()).select_from(MailMessage))).scalar_one() == 0
    sender = MailSender(empty_database.sessions, _settings(empty_database, smtp.url), clock)
    assert await sender.deliver_due() == 0
    assert smtp.inbox.received == []


async def test_concurrent_senders_deliver_each_message_once(empty_database: Database) -> None:
    server = SmtpServer(Inbox(delay=0.01))
    await server.start()
    try:
        clock = Clock()
        ids = await _enqueue(empty_database, clock, *(_message(n) for n in range(23)))
        settings = _settings(empty_database, server.url)
        senders = [MailSender(empty_database.sessions, settings, clock) for _ in range(3)]
        counts = await asyncio.gather(*(sender.deliver_due() for sender in senders))
    finally:
        await server.stop()
    assert sum(counts) == len(ids)
    assert sum(1 for count in counts if count) >= 2  # they did share the work
    recipients = sorted(rcpt for _from, [rcpt], _mail in server.inbox.received)
    assert recipients == sorted(f"customer{n}@contoso.example" for n in range(23))
    for id_ in ids:
        row = await _row(empty_database, id_)
        assert (row.status, row.attempts) == (MailStatus.SENT, 1)


async def test_a_message_claimed_by_a_dead_sender_goes_out_after_its_lease(
    empty_database: Database, smtp: SmtpServer
) -> None:
    clock = Clock()
    [id_] = await _enqueue(empty_database, clock, _message())
    settings = _settings(empty_database, smtp.url)
    dead = MailSender(empty_database.sessions, settings, clock)
    [claimed] = await dead._claim(clock.now())  # claimed, then the process died before sending

    other = MailSender(empty_database.sessions, settings, clock)
    assert await other.deliver_due() == 0  # leased
    clock.advance(timedelta(minutes=5))
    assert await other.deliver_due() == 1
    assert len(smtp.inbox.received) == 1

    await dead._record(claimed, "late")  # a sender back from the dead cannot overwrite the outcome
    row = await _row(empty_database, id_)
    assert (row.status, row.attempts, row.last_error) == (MailStatus.SENT, 2, None)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_smtp_auth_with_url_encoded_credentials(empty_database: Database) -> None:
    inbox = Inbox()
    server = SmtpServer(inbox, authenticator=inbox.authenticate, auth_required=True, auth_require_tls=False)
    await server.start()
    try:
        clock = Clock()
        [good, bad] = await _enqueue(empty_database, clock, _message(1), _message(2))
        url = f"smtp://mailer%40mci.example:p%40ss%3Aw%2Frd@127.0.0.1:{server.port}"
        sender = MailSender(empty_database.sessions, _settings(empty_database, url), clock)
        async with transaction(empty_database.sessions, write=True) as session:
            (await session.get(MailMessage, bad)).next_attempt_at = clock.now() + timedelta(hours=1)  # type: ignore[union-attr]
        assert await sender.deliver_due() == 1

        wrong = url.replace("p%40ss", "nope")
        clock.advance(timedelta(hours=2))
        assert (
            await MailSender(empty_database.sessions, _settings(empty_database, wrong), clock).deliver_due()
            == 0
        )
    finally:
        await server.stop()
    assert [rcpt for _from, rcpt, _mail in inbox.received] == [["customer1@contoso.example"]]
    assert inbox.logins[0] == (b"mailer@mci.example", b"p@ss:w/rd")
    assert (await _row(empty_database, good)).status == MailStatus.SENT
    row = await _row(empty_database, bad)
    assert (row.status, row.attempts) == (MailStatus.PENDING, 1)
    assert "535" in (row.last_error or "")


async def test_the_background_sender_wakes_survives_errors_and_stops(
    empty_database: Database, smtp: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    sender = MailSender(
        empty_database.sessions, _settings(empty_database, smtp.url, mail_poll_seconds=60), clock
    )
    real_claim = sender._claim
    failures = 0

    async def flaky_claim(cutoff: Any) -> Any:
        nonlocal failures
        if failures == 0:
            failures += 1
            raise RuntimeError("database unreachable")
        return await real_claim(cutoff)

    sender._claim = flaky_claim  # type: ignore[method-assign]
    sender.start()
    await asyncio.sleep(0.05)
    assert failures == 1 and "database unreachable" in caplog.text

    await _enqueue(empty_database, clock, _message())
    sender.wake()
    for _ in range(100):
        if smtp.inbox.received:
            break
        await asyncio.sleep(0.01)
    assert len(smtp.inbox.received) == 1
    await asyncio.wait_for(sender.stop(), 2)


async def test_stop_hands_back_messages_claimed_but_not_sent(
    empty_database: Database, smtp: SmtpServer
) -> None:
    clock = Clock()
    ids = await _enqueue(empty_database, clock, *(_message(n) for n in range(3)))
    sender = MailSender(empty_database.sessions, _settings(empty_database, smtp.url), clock)
    real_deliver = sender._deliver

    async def deliver_then_stop(claimed: Any) -> int:
        sender._stopping = True  # stop() arrives while the first message is being sent
        return await real_deliver(claimed)

    sender._deliver = deliver_then_stop  # type: ignore[method-assign]
    assert await sender.deliver_due() == 1
    rows = [await _row(empty_database, id_) for id_ in ids]
    assert [(r.status, r.attempts) for r in rows] == [
        (MailStatus.SENT, 1),
        (MailStatus.PENDING, 0),
        (MailStatus.PENDING, 0),
    ]
    assert all(r.next_attempt_at <= clock.now() for r in rows[1:])


def test_smtp_urls() -> None:
    plain = SmtpConfig.from_url("smtp://mail.example")
    assert (plain.hostname, plain.port, plain.use_tls, plain.start_tls, plain.username) == (
        "mail.example",
        25,
        False,
        None,
        None,
    )
    implicit = SmtpConfig.from_url("smtps://u%40x.example:p%3Aw%25@mail.example")
    assert (implicit.port, implicit.use_tls, implicit.start_tls) == (465, True, False)
    assert (implicit.username, implicit.password) == ("u@x.example", "p:w%")
    assert "p:w%" not in implicit.describe()
    submission = SmtpConfig.from_url(
        "smtp://user:secret@mail.example:587?starttls=true&timeout=5&verify=false"
    )
    assert (submission.port, submission.start_tls, submission.timeout, submission.validate_certs) == (
        587,
        True,
        5.0,
        False,
    )
    assert SmtpConfig.from_url("smtp://[::1]:2525?starttls=false").hostname == "::1"
    for bad in (
        "http://mail.example",
        "smtp://",
        "smtp://mail.example:notaport",
        "smtp://mail.example?starttls=maybe",
        "smtp://mail.example?tls=true",
        "smtps://mail.example?starttls=true",
        "smtp://mail.example?timeout=0",
    ):
        with pytest.raises(ValueError):
            SmtpConfig.from_url(bad)
