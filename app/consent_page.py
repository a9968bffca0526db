"""The page a consent link opens: who asks for consent to what, with Accept and Decline. No account needed; the
link's signed token authorises it, and a double-submit cookie keeps the POST from being forged by other sites."""

import hmac
import secrets
from html import escape
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from app.runtime import Runtime
from app.services import consent
from app.services.problems import ErrorCode, Problems

CSRF_COOKIE = "mci_consent_csrf"
_STATUS = {
    ErrorCode.CONSENT_LINK_INVALID: 404,
    ErrorCode.CONSENT_LINK_REPLACED: 410,
    ErrorCode.CONSENT_ALREADY_ANSWERED: 410,
    ErrorCode.CONSENT_LINK_EXPIRED: 410,
    ErrorCode.CONSENT_NO_LONGER_OPEN: 410,
}

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body{{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;padding:1.5rem;
background:#f5f5f5;color:#1b1b1b}}
main{{max-width:34rem;margin:auto;background:#fff;padding:1.5rem;border-radius:.5rem;box-shadow:0 1px 3px #0002}}
h1{{font-size:1.4rem}} .muted{{color:#555}} form{{display:flex;gap:.75rem;flex-wrap:wrap;margin-top:1.5rem}}
button{{flex:1;min-width:8rem;font-size:1.1rem;padding:.8rem;border-radius:.4rem;border:1px solid #0067b8;
cursor:pointer}}
.accept{{background:#0067b8;color:#fff}} .decline{{background:#fff;color:#0067b8}}
</style></head><body><main>{body}</main></body></html>"""


# The page's URL carries the link's token: it must not leak through a Referer, a cache or a frame, and the page
# runs no script and loads nothing (its style is inline, its form posts to itself).
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=escape(title), body=body), status_code=status, headers=HEADERS)


def _problem_page(error: Problems) -> HTMLResponse:
    problem = error.problems[0]
    return _page(
        "Consent request",
        f"<h1>This link cannot be used</h1><p>{escape(problem.message)}</p>",
        _STATUS.get(problem.code, 400),
    )


def consent_routes(runtime: Runtime) -> list[Route]:
    async def show(request: Request) -> HTMLResponse:
        token = request.path_params["token"]
        try:
            async with runtime.sessions() as session:
                opened = await consent.open_request(session, runtime.settings, token, await runtime.now())
        except Problems as error:
            return _problem_page(error)
        csrf = secrets.token_urlsafe(24)
        engagement = opened.engagement
        deadline = opened.request.expires_at.strftime("%d %B %Y, %H:%M UTC")
        # The partner organisation, the engagement and the customer organisation; never the friendly name.
        body = (
            f"<h1>{escape(opened.partner.name)} asks for your consent</h1>"
            f"<p>on behalf of <strong>{escape(opened.customer_name)}</strong>, to run the engagement "
            f"<strong>{escape(engagement.name)}</strong> under the Microsoft Commerce Incentive program.</p>"
            f"<p class=muted>{escape(engagement.description)}</p>"
            f"<p class=muted>Please answer before {escape(deadline)}. You can answer once.</p>"
            f'<form method="post"><input type="hidden" name="csrf" value="{csrf}">'
            '<button class="accept" name="decision" value="ACCEPT">Accept</button>'
            '<button class="decline" name="decision" value="DECLINE">Decline</button></form>'
        )
        response = _page("Consent request", body)
        response.set_cookie(
            CSRF_COOKIE,
            csrf,
            httponly=True,
            samesite="strict",
            path=request.url.path,  # this link's own: two open consent tabs keep a cookie each
            secure=runtime.settings.public_url.startswith("https://"),
        )
        return response

    async def answer(request: Request) -> HTMLResponse:
        form = parse_qs((await request.body()).decode(errors="replace"))
        sent = (form.get("csrf") or [""])[0]
        cookie = request.cookies.get(CSRF_COOKIE, "")
        decision = (form.get("decision") or [""])[0]
        if (
            not sent
            or not hmac.compare_digest(sent.encode(), cookie.encode())  # bytes: any text compares
            or decision not in (consent.ACCEPT, consent.DECLINE)
        ):
            return _page(
                "Consent request",
                "<h1>Please use the buttons on the consent page</h1>"
                "<p>Open the link from your email again and choose Accept or Decline.</p>",
                403,
            )
        outcome = await consent.respond(
            runtime.sessions, runtime.settings, request.path_params["token"], decision, await runtime.now()
        )
        if isinstance(outcome, list):
            return _problem_page(Problems(outcome))
        verdict = "accepted" if outcome.accepted else "declined"
        return _page(
            "Consent recorded",
            f"<h1>Thank you</h1><p>You {verdict} taking part in "
            f"<strong>{escape(outcome.engagement_name)}</strong> with {escape(outcome.partner_name)}.</p>"
            "<p class=muted>You can close this page.</p>",
        )

    return [
        Route("/consent/{token}", show, methods=["GET"]),
        Route("/consent/{token}", answer, methods=["POST"]),
    ]
