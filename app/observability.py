"""Running it for real: liveness and readiness probes, Prometheus metrics, one structured log line per request
with a request id, optional OpenTelemetry tracing, and draining subscriptions when the process is told to stop.

`install()` wires it all into an app; `ObserveOperations` is the schema extension that tells the request's
observation (and the metrics) which GraphQL operation ran, how long it took and which error codes it produced.
Metrics live in a registry of the app's own, so several apps can share one process (as in the tests).
"""

import asyncio
import contextlib
import functools
import hashlib
import hmac
import json
import logging
import logging.config
import re
import signal
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from graphql import FieldNode, GraphQLError, OperationDefinitionNode
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from strawberry import Schema
from strawberry.extensions import SchemaExtension

from app import db
from app.config import Settings
from app.models.mail import MailMessage
from app.runtime import Runtime

log = logging.getLogger("mci.observability")
request_log = logging.getLogger("mci.request")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]

SCOPE_KEY = "mci.observation"
REQUEST_ID_HEADER = "x-request-id"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:+=/-]{1,128}")
_GRAPHQL_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")
MAX_OPERATION_LABELS = 200
"""Distinct operation names a process labels metrics with; clients choose names, so later ones count as "other"."""
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
"""Probes and scrapes: logged at DEBUG, not at INFO every few seconds."""
CHECK_SECONDS = 3.0
DRAIN_SECONDS = 5.0

request_id_var: ContextVar[str | None] = ContextVar("mci_request_id", default=None)


# What one request did, filled in by the middleware and the schema extension


@dataclass
class OperationRecord:
    name: str
    type: str
    errors: list[str]
    user_errors: list[str]


@dataclass
class Observation:
    request_id: str
    metrics: "Metrics"
    user: str | None = None
    operations: list[OperationRecord] = field(default_factory=list)


def pseudonym(settings: Settings, email: str) -> str:
    """A stable stand-in for an email address in logs: keyed, so it cannot be reversed by hashing guesses."""
    key = hmac.new(settings.link_secret.encode(), b"mci log pseudonyms", hashlib.sha256).digest()
    return hmac.new(key, email.strip().lower().encode(), hashlib.sha256).hexdigest()[:16]


def error_code(error: GraphQLError, *, parsed: bool, executed: bool) -> str:
    code = (error.extensions or {}).get("code")
    if isinstance(code, str):
        return code
    if not parsed:
        return "GRAPHQL_PARSE_FAILED"
    if not executed:
        return "GRAPHQL_VALIDATION_FAILED"
    original = error.original_error
    if original is not None and not isinstance(original, GraphQLError):
        return "INTERNAL_SERVER_ERROR"
    return "BAD_USER_INPUT"  # e.g. variables that do not fit their types


def user_error_codes(data: object, depth: int = 0) -> Iterator[str]:
    """The `code` of every `userErrors` entry in a result (as far as the client selected them)."""
    if depth > 6:
        return
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "userErrors" and isinstance(value, list):
                yield from (
                    e["code"] for e in value if isinstance(e, dict) and isinstance(e.get("code"), str)
                )
            else:
                yield from user_error_codes(value, depth + 1)
    elif isinstance(data, list):
        for item in data:
            yield from user_error_codes(item, depth + 1)


class ObserveOperations(SchemaExtension):
    """Records each operation's name, type, duration and error codes in the request's observation and metrics.

    Listed first in the schema's extensions, so its timing wraps the others and it sees errors before masking."""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        self._executed = False
        try:
            yield
        finally:
            try:
                self._record(time.perf_counter() - started)
            except Exception:  # metrics never break a request
                log.exception("recording a GraphQL operation failed")

    def on_execute(self) -> Iterator[None]:
        self._executed = True
        yield

    def _record(self, seconds: float) -> None:
        execution = self.execution_context
        request = getattr(execution.context, "request", None)
        observation = getattr(request, "scope", {}).get(SCOPE_KEY) if request is not None else None
        if not isinstance(observation, Observation):
            return  # executed outside a served request (a test calling the schema directly)
        metrics = observation.metrics
        document = execution.graphql_document
        operation: OperationDefinitionNode | None = None
        kind = "unknown"
        if document is not None:
            with contextlib.suppress(Exception):
                kind = execution.operation_type.value
            wanted = execution.operation_name
            operation = next(
                (
                    d
                    for d in document.definitions
                    if isinstance(d, OperationDefinitionNode)
                    and (wanted is None or (d.name is not None and d.name.value == wanted))
                ),
                None,
            )
        name = metrics.operation_label(execution.operation_name, operation, execution.schema)
        errors = execution.pre_execution_errors
        if errors is None and execution.result is not None:
            errors = execution.result.errors
        codes = [error_code(e, parsed=document is not None, executed=self._executed) for e in errors or []]
        user_codes: list[str] = []
        if kind == "mutation" and execution.result is not None:
            user_codes = list(user_error_codes(execution.result.data))
        context = execution.context
        viewer, reviewer = getattr(context, "viewer", None), getattr(context, "reviewer", None)
        if viewer is not None:
            observation.user = f"partner-user:{viewer.user_id}"
        elif reviewer is not None:
            observation.user = f"reviewer:{pseudonym(context.runtime.settings, reviewer.email)}"
        observation.operations.append(OperationRecord(name, kind, codes, user_codes))
        outcome = "error" if codes else "ok"
        metrics.operations.labels(name, kind, outcome).inc()
        if kind != "subscription":  # a subscription's "duration" is how long the client listened
            metrics.duration.labels(name, kind).observe(seconds)
        for code in codes:
            metrics.errors.labels(code, "top_level").inc()
        for code in user_codes:
            metrics.errors.labels(code, "user_error").inc()


# Metrics


class RuntimeCollector(Collector):
    """What the process holds, read at scrape time: subscribers, the event hub, the sweeper, the listener, the
    connection pool."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterable[Any]:
        runtime = self.runtime
        hub = runtime.hub
        yield GaugeMetricFamily(
            "mci_subscriptions_open",
            "Live claimStatusChanged subscriptions in this process",
            hub.subscriber_count,
        )
        yield CounterMetricFamily(
            "mci_events_delivered",
            "Claim events this process read from the log and offered to its subscribers",
            hub.dispatched,
        )
        yield CounterMetricFamily("mci_sweeper_runs", "Rounds of the deadline sweeper", runtime.sweeps)
        yield CounterMetricFamily(
            "mci_sweeper_failures", "Sweeper rounds that failed", runtime.sweep_failures
        )
        yield CounterMetricFamily(
            "mci_sweeper_expired_claims",
            "Claims the sweeper expired (reads expire passed deadlines too)",
            runtime.swept,
        )
        yield GaugeMetricFamily(
            "mci_shutting_down", "1 once the process drains for shutdown", int(runtime.draining)
        )
        if runtime.listener is not None:
            yield GaugeMetricFamily(
                "mci_event_listener_up",
                "1 while the PostgreSQL LISTEN connection is up",
                int(runtime.listener.listening),
            )
            yield CounterMetricFamily(
                "mci_event_listener_reconnects",
                "Times the LISTEN connection was re-established",
                runtime.listener.reconnects,
            )
        pool = runtime.engine.pool
        for name, doc in (
            ("size", "Connections the pool keeps"),
            ("checkedout", "Connections in use"),
            ("checkedin", "Idle connections in the pool"),
            ("overflow", "Connections beyond the pool size (negative: not yet opened)"),
        ):
            method = getattr(pool, name, None)
            if callable(method):
                yield GaugeMetricFamily(f"mci_db_pool_{name}", doc, float(method()))


class Metrics:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.registry = CollectorRegistry()
        registry = self.registry
        self.operations = Counter(
            "mci_graphql_operations",
            "GraphQL operations by name (or root fields when anonymous), type and outcome",
            ["operation", "type", "outcome"],
            registry=registry,
        )
        self.duration = Histogram(
            "mci_graphql_operation_duration_seconds",
            "Time to run a GraphQL query or mutation, parsing to result",
            ["operation", "type"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )
        self.errors = Counter(
            "mci_graphql_errors",
            "GraphQL errors by code: top-level `errors` and mutation `userErrors`",
            ["code", "kind"],
            registry=registry,
        )
        self.http = Counter(
            "mci_http_requests",
            "HTTP requests and WebSocket connections by route and status (close code for WebSockets)",
            ["method", "route", "status"],
            registry=registry,
        )
        self.in_progress = Gauge(
            "mci_http_requests_in_progress",
            "HTTP requests being served now (WebSockets not counted)",
            registry=registry,
        )
        self.outbox = Gauge(
            "mci_mail_outbox_messages",
            "Outbox messages waiting (PENDING) or given up on (FAILED), read at scrape time",
            ["status"],
            registry=registry,
        )
        self.outbox_retrying = Gauge(
            "mci_mail_outbox_retrying", "PENDING messages that failed at least once", registry=registry
        )
        self.outbox_oldest = Gauge(
            "mci_mail_outbox_oldest_pending_seconds",
            "Age of the oldest PENDING message (0: none)",
            registry=registry,
        )
        self.database_up = Gauge(
            "mci_database_up", "1 when the last scrape could read the database", registry=registry
        )
        registry.register(RuntimeCollector(runtime))
        self._names: set[str] = set()

    def operation_label(
        self, name: str | None, operation: OperationDefinitionNode | None, schema: Schema
    ) -> str:
        """The operation's name if it has a sane one; else its root fields (bounded by the schema)."""
        if name is None or not _GRAPHQL_NAME.fullmatch(name):
            name = None
            if operation is not None:
                root = schema._schema.get_root_type(operation.operation)
                known = root.fields if root is not None else {}
                fields = sorted(
                    {s.name.value for s in operation.selection_set.selections if isinstance(s, FieldNode)}
                    & set(known)
                )
                name = ",".join(fields[:3]) + (",…" if len(fields) > 3 else "") if fields else None
        if name is None:
            return "anonymous"
        if name not in self._names:
            if len(self._names) >= MAX_OPERATION_LABELS:
                return "other"
            self._names.add(name)
        return name

    async def refresh(self) -> None:
        """Read what only the database knows: the outbox backlog and failures."""
        runtime = self.runtime
        try:
            async with asyncio.timeout(CHECK_SECONDS), runtime.sessions() as session:
                rows = (
                    await session.execute(
                        select(  # type: ignore[call-overload]
                            MailMessage.status,
                            func.count(),
                            func.count(MailMessage.last_error),  # type: ignore[arg-type]
                            func.min(MailMessage.created_at),
                        )
                        .where(MailMessage.status.in_(["PENDING", "FAILED"]))  # type: ignore[attr-defined]
                        .group_by(MailMessage.status)
                    )
                ).all()
        except Exception as error:
            log.warning("metrics: reading the outbox failed (%s)", type(error).__name__)
            self.database_up.set(0)
            return
        self.database_up.set(1)
        found = {status: (count, failed, oldest) for status, count, failed, oldest in rows}
        for status in ("PENDING", "FAILED"):
            self.outbox.labels(status).set(found.get(status, (0, 0, None))[0])
        _, retrying, oldest = found.get("PENDING", (0, 0, None))
        self.outbox_retrying.set(retrying)
        age = (runtime.clock.now() - oldest).total_seconds() if oldest is not None else 0.0
        self.outbox_oldest.set(max(age, 0.0))


# Health and readiness


@functools.cache
def _migrations() -> tuple[frozenset[str], frozenset[str]]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(db.MIGRATIONS_DIR))
    return frozenset(script.get_heads()), frozenset(r.revision for r in script.walk_revisions())


def migration_heads() -> frozenset[str]:
    """The revisions this code's migrations end at."""
    return _migrations()[0]


def known_revisions() -> frozenset[str]:
    return _migrations()[1]


def _reason(settings: Settings, error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return f"no answer within {CHECK_SECONDS:g} s"
    if settings.env == "production":
        return type(error).__name__
    return f"{type(error).__name__}: {str(error).strip()[:200]}"


class Observability:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.metrics = Metrics(runtime)
        self.heads = migration_heads()
        self.known = known_revisions()

    async def readiness(self) -> tuple[bool, dict[str, dict[str, object]]]:
        runtime = self.runtime
        settings = runtime.settings
        checks: dict[str, dict[str, object]] = {}
        versions: set[str] | None = None
        try:
            async with asyncio.timeout(CHECK_SECONDS), runtime.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
                checks["database"] = {"ok": True}
                try:
                    result = await connection.execute(text("SELECT version_num FROM alembic_version"))
                    versions = {row[0] for row in result}
                except Exception:
                    versions = set()  # no alembic_version table: never migrated
        except Exception as error:
            checks["database"] = {"ok": False, "reason": f"unreachable: {_reason(settings, error)}"}
        heads = sorted(self.heads)
        if versions is None:
            checks["migrations"] = {
                "ok": False,
                "reason": "unknown: the database is unreachable",
                "head": heads,
            }
        elif versions == self.heads:
            checks["migrations"] = {"ok": True, "version": sorted(versions)}
        elif versions and not versions & self.known:
            # Newer code migrated the database (a rolling deploy under way): migrations keep the schema working
            # for the code before them, so this process stays in service until it is replaced.
            checks["migrations"] = {
                "ok": True,
                "version": sorted(versions),
                "head": heads,
                "note": "the database is at a revision newer than this code knows",
            }
        else:
            reason = (
                "no migration applied: run `mci db upgrade`"
                if not versions
                else "the database is behind this code's migrations: run `mci db upgrade`"
            )
            checks["migrations"] = {"ok": False, "reason": reason, "version": sorted(versions), "head": heads}
        hub = runtime.hub
        if runtime.listener is not None:
            listening = runtime.listener.listening and hub.running
            checks["notifier"] = (
                {"ok": True, "kind": "postgres-listen"}
                if listening
                else {
                    "ok": False,
                    "kind": "postgres-listen",
                    "reason": "the PostgreSQL LISTEN connection is down (reconnecting)"
                    if hub.running
                    else "the event hub is not running",
                }
            )
        else:
            checks["notifier"] = (
                {"ok": True, "kind": "in-process"}
                if hub.running
                else {"ok": False, "kind": "in-process", "reason": "the event hub is not running"}
            )
        if runtime.draining:
            checks["shutdown"] = {"ok": False, "reason": "shutting down"}
        return all(check["ok"] for check in checks.values()), checks

    async def healthz(self, _request: Request) -> Response:
        return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})

    async def readyz(self, _request: Request) -> Response:
        ready, checks = await self.readiness()
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
            headers={"Cache-Control": "no-store"},
        )

    async def scrape(self, _request: Request) -> Response:
        await self.metrics.refresh()
        return Response(generate_latest(self.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    def routes(self) -> list[Route]:
        return [
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
            Route("/metrics", self.scrape, methods=["GET"]),
        ]


# The request log and request ids


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers") or ():
        if name == REQUEST_ID_HEADER.encode():
            candidate = str(value.decode("latin-1")).strip()
            if _SANE_REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex


def _route(scope: Scope) -> str:
    """The path with its parameters (a consent link's token) replaced by their names."""
    path = str(scope.get("path", ""))
    for name, value in (scope.get("path_params") or {}).items():
        if isinstance(value, str) and value:
            path = path.replace(value, "{" + name + "}")
    return path


class RequestObserver:
    """ASGI middleware: a request id for every HTTP request and WebSocket (the client's sane `X-Request-ID`, or a
    new one) returned in `X-Request-ID`; one log line when it ends; HTTP metrics."""

    def __init__(self, app: ASGIApp, observability: Observability) -> None:
        self.app = app
        self.observability = observability

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        websocket = scope["type"] == "websocket"
        request_id = _request_id(scope)
        observation = Observation(request_id, self.observability.metrics)
        scope[SCOPE_KEY] = observation
        header = (REQUEST_ID_HEADER.encode(), request_id.encode())
        status: int | None = None
        started = time.perf_counter()

        async def send_observed(message: Message) -> None:
            nonlocal status
            kind = message["type"]
            if kind in ("http.response.start", "websocket.accept"):
                message["headers"] = [*(message.get("headers") or ()), header]
                status = message.get("status", 101)
            elif kind == "websocket.close":
                status = message.get("code", 1000)
            elif kind == "websocket.http.response.start":  # refused before the handshake
                status = message.get("status")
            await send(message)

        async def receive_observed() -> Message:
            nonlocal status
            message = await receive()
            if message["type"] == "websocket.disconnect" and status in (None, 101):
                status = message.get("code", 1005)
            return message

        token = request_id_var.set(request_id)
        in_progress = self.observability.metrics.in_progress
        if not websocket:
            in_progress.inc()
        try:
            await self.app(scope, receive_observed if websocket else receive, send_observed)
        except BaseException:
            if status is None or (not websocket and status < 500):
                status = 500
            raise
        finally:
            if not websocket:
                in_progress.dec()
            try:
                self._finish(scope, observation, status, time.perf_counter() - started)
            finally:
                request_id_var.reset(token)

    def _finish(self, scope: Scope, observation: Observation, status: int | None, seconds: float) -> None:
        method = "WEBSOCKET" if scope["type"] == "websocket" else str(scope.get("method", ""))
        route = _route(scope)
        self.observability.metrics.http.labels(
            method, route if "endpoint" in scope else "(unmatched)", str(status)
        ).inc()
        operations = observation.operations
        fields: dict[str, object] = {
            "request_id": observation.request_id,
            "method": method,
            "path": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 1),
        }
        if operations:
            fields["operation"] = ",".join(dict.fromkeys(o.name for o in operations))
            fields["operation_type"] = ",".join(dict.fromkeys(o.type for o in operations))
        if observation.user is not None:
            fields["user"] = observation.user
        errors = [code for o in operations for code in o.errors]
        user_errors = [code for o in operations for code in o.user_errors]
        if errors:
            fields["errors"] = errors
        if user_errors:
            fields["user_errors"] = user_errors
        if route in QUIET_PATHS and status == 200:
            level = logging.DEBUG
        elif status is None or (method != "WEBSOCKET" and status >= 500):
            level = logging.ERROR
        else:
            level = logging.INFO
        request_log.log(level, "%s %s %s", method, route, status, extra={"fields": fields})


# Logging


_STANDARD = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the request id, and a record's `fields`."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id is not None:
            entry["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Readable lines for development: the usual prefix, then the record's `fields` as key=value (but for those
    the request line's message already shows)."""

    SHOWN = frozenset({"method", "path", "status"})

    def __init__(self) -> None:
        super().__init__(_STANDARD)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            extra = " ".join(
                f"{key}={','.join(map(str, value)) if isinstance(value, list) else value}"
                for key, value in fields.items()
                if value not in (None, "", []) and key not in self.SHOWN
            )
            head, newline, rest = line.partition("\n")  # keep a traceback below the fields
            line = f"{head} {extra}{newline}{rest}"
        return line


class DropExpectedGraphQLErrors(logging.Filter):
    """Strawberry logs every GraphQL error with a traceback. Errors the API raises on purpose (codes such as
    UNAUTHENTICATED) are the client's business and already counted in the request line; faults stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.msg
        if isinstance(error, GraphQLError):
            return error.original_error is not None and not isinstance(error.original_error, GraphQLError)
        return True


def log_format(settings: Settings) -> str:
    if settings.log_format == "auto":
        return "json" if settings.env == "production" else "text"
    return settings.log_format


def logging_config(settings: Settings) -> dict[str, Any]:
    """A `logging.config.dictConfig` for `mci serve` (uvicorn applies it in each worker): our formatter on one
    stderr handler; uvicorn's access log off, the request line replaces it (it never logs query strings)."""
    formatter = (
        "app.observability.JsonFormatter"
        if log_format(settings) == "json"
        else "app.observability.TextFormatter"
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"mci": {"()": formatter}},
        "filters": {"expected_graphql_errors": {"()": "app.observability.DropExpectedGraphQLErrors"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "mci",
                "filters": ["expected_graphql_errors"],
            }
        },
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": False},
            "alembic.runtime.plugins": {"level": "WARNING"},
        },
        "root": {"level": settings.log_level, "handlers": ["stderr"]},
    }


def setup_logging(settings: Settings) -> dict[str, Any]:
    """Configure this process's logging for serving; returns the configuration (for uvicorn's workers)."""
    config = logging_config(settings)
    logging.config.dictConfig(config)
    return config


# Tracing


def _no_arguments(_args: dict[str, Any], _info: Any) -> dict[str, Any]:
    return {}  # arguments carry emails and consent tokens: never put them on spans


def enable_tracing(schema: Schema, settings: Settings) -> bool:
    """With `MCI_OTEL_ENABLED`, add Strawberry's OpenTelemetry extension, if the package is installed. Spans go
    to the tracer provider the process configured (e.g. with `opentelemetry-instrument` and OTEL_* variables)."""
    if not settings.otel_enabled:
        return False
    try:
        from strawberry.extensions.tracing import OpenTelemetryExtension
    except ImportError:
        log.warning(
            "MCI_OTEL_ENABLED is set but OpenTelemetry is not installed (pip install 'mci-engagements[otel]'): "
            "no traces"
        )
        return False
    schema.extensions = (
        *schema.extensions,
        functools.partial(OpenTelemetryExtension, arg_filter=_no_arguments),
    )
    return True


# Shutdown


@contextlib.contextmanager
def drain_on_signals(runtime: Runtime) -> Iterator[None]:
    """While serving from the main thread (`mci serve`): on SIGTERM or SIGINT, drain first (readiness turns 503,
    subscriptions close with 1001), then hand the signal to the server's own handler (uvicorn: stop accepting,
    finish requests in flight, run the shutdown). A second signal goes straight to the server."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    previous: dict[int, Any] = {sig: signal.getsignal(sig) for sig in signals}
    tasks: set[asyncio.Task[None]] = set()

    def pass_on(signum: int) -> None:
        handler = previous.get(signum)
        if callable(handler):
            handler(signum, None)
        elif handler == signal.SIG_DFL:
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)

    async def drain_then_pass_on(signum: int) -> None:
        try:
            log.info("%s: draining before shutdown", signal.Signals(signum).name)
            await runtime.drain(DRAIN_SECONDS)
        finally:
            pass_on(signum)

    def on_signal(signum: int, _frame: object) -> None:
        if runtime.draining:
            pass_on(signum)
            return

        def start() -> None:
            task = loop.create_task(drain_then_pass_on(signum), name="mci-drain")
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        runtime.draining = True
        loop.call_soon_threadsafe(start)

    for sig in signals:
        signal.signal(sig, on_signal)
    try:
        yield
    finally:
        for sig in signals:
            if signal.getsignal(sig) is on_signal:
                signal.signal(sig, previous[sig])


def install(app: Starlette, runtime: Runtime, schema: Schema) -> Observability:
    """Add the probes, the metrics endpoint, the request middleware and (if enabled) tracing to `app`."""
    observability = Observability(runtime)
    app.router.routes.extend(observability.routes())
    app.add_middleware(RequestObserver, observability=observability)
    enable_tracing(schema, runtime.settings)
    app.state.observability = observability
    return observability
