"""Bearer tokens: minting (demo, HS256) and verifying (HS256 secret, or RS256 against a JWKS file or URL)."""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt

from app.config import Settings

PARTNER = "partner"
REVIEWER = "reviewer"


class AuthenticationError(Exception):
    """The token is missing, malformed, expired or not signed by a key we trust."""


def mint_token(settings: Settings, email: str, kind: str = PARTNER, name: str | None = None) -> str:
    if settings.jwt_algorithm != "HS256":
        raise AuthenticationError("tokens are minted by your identity provider when MCI_JWT_ALGORITHM=RS256")
    now = datetime.now(UTC)
    claims = {
        "sub": email.strip().lower(),
        "kind": kind,
        "name": name or email.strip().lower(),
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(hours=settings.token_ttl_hours)).timestamp()),
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


class TokenVerifier:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._jwks: jwt.PyJWKClient | jwt.PyJWKSet | None = None

    async def _key_for(self, token: str) -> Any:
        if self.settings.jwt_algorithm == "HS256":
            return self.settings.jwt_secret
        source = self.settings.jwt_jwks
        if not source:
            raise AuthenticationError("no JWKS configured for RS256")
        if source.startswith(("https://", "http://")):
            if self._jwks is None:
                self._jwks = jwt.PyJWKClient(source, cache_keys=True)
            client = self._jwks
            assert isinstance(client, jwt.PyJWKClient)
            # PyJWKClient fetches over blocking urllib: keep it off the event loop.
            return (await asyncio.to_thread(client.get_signing_key_from_jwt, token)).key
        if self._jwks is None:
            self._jwks = jwt.PyJWKSet.from_dict(json.loads(await asyncio.to_thread(Path(source).read_text)))
        key_set = self._jwks
        assert isinstance(key_set, jwt.PyJWKSet)
        kid = jwt.get_unverified_header(token).get("kid")
        return key_set[kid].key if kid else key_set.keys[0].key

    async def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or AuthenticationError. Expiry is judged by the wall clock: the sandbox test
        clock moves business deadlines, never the validity of credentials."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                await self._key_for(token),
                algorithms=[self.settings.jwt_algorithm],
                audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_issuer,
                options={"require": ["sub", "exp"]},
            )
        except jwt.ExpiredSignatureError as error:
            raise AuthenticationError("the token has expired") from error
        except (jwt.PyJWTError, KeyError, ValueError) as error:
            raise AuthenticationError(f"invalid token: {error}") from error
        self._check_lifetime(claims)
        return claims

    def _check_lifetime(self, claims: dict[str, Any]) -> None:
        """A token may live at most `max_token_lifetime_hours`, from its `iat` (or from now without one): a stolen
        long-lived token would otherwise work for years."""
        expires, issued = claims["exp"], claims.get("iat")
        start = issued if _is_number(issued) else datetime.now(UTC).timestamp()
        if not _is_number(expires):
            raise AuthenticationError("invalid token: `exp` is not a number")
        hours = self.settings.max_token_lifetime_hours
        if expires - start > hours * 3600:
            raise AuthenticationError(
                f"the token lives {(expires - start) / 3600:.4g} hours (from "
                f"{'its iat' if _is_number(issued) else 'now'} to its exp); this service accepts tokens that live "
                f"at most {hours:g} hours (MCI_MAX_TOKEN_LIFETIME_HOURS): ask for a shorter-lived one"
            )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, if any."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None
