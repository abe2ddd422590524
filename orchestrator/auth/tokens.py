"""JWT bearer tokens (PyJWT): HS256 with a shared secret, RS256/ES256 with keys from a JWKS.

Checked: the signature (only with an algorithm the configuration allows, taken per key kind so
an RS256 public key can never verify an HS256 token), ``exp`` (required), ``nbf`` and ``iat``
with a bounded leeway, ``iss`` and ``aud`` when configured, and a ``sub``. The tenant and role
come from configurable claims. Source: RFC 7519 §4.1 and PyJWT's documentation.
"""

from __future__ import annotations

import asyncio
from typing import Any

import jwt

from orchestrator.auth.principal import Principal
from orchestrator.auth.roles import strongest
from orchestrator.config import AuthSettings
from orchestrator.errors import AuthenticationError, ConfigError

ASYMMETRIC_ALGORITHMS = ("RS256", "ES256")


def _invalid(reason: str, message: str = "the bearer token is not valid") -> AuthenticationError:
    return AuthenticationError(message, details={"reason": reason})


class JwtVerifier:
    """Verifies JWTs against the ``ORCH_AUTH__JWT_*`` and ``ORCH_AUTH__JWKS_URL`` settings.

    Args:
        settings: The auth section; with neither a secret nor a JWKS URL every JWT is refused.

    Raises:
        ConfigError: The JWKS URL is not http(s).
    """

    def __init__(self, settings: AuthSettings) -> None:
        self._settings = settings
        self._secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
        try:
            self._jwks = (
                jwt.PyJWKClient(settings.jwks_url, cache_keys=True,
                                lifespan=max(1, settings.jwks_cache_seconds), timeout=5)
                if settings.jwks_url else None
            )  # fmt: skip
        except jwt.PyJWKClientError as exc:
            raise ConfigError(f"ORCH_AUTH__JWKS_URL is not usable: {exc}",
                              details={"setting": "ORCH_AUTH__JWKS_URL"}) from exc

    @property
    def configured(self) -> bool:
        """Whether any JWT can be accepted."""
        return self._secret is not None or self._jwks is not None

    async def authenticate(self, token: str) -> Principal:
        """Verify ``token`` and return its principal (``user:<sub>``).

        Raises:
            AuthenticationError: Malformed, wrongly signed, expired, not yet valid, wrong
                issuer or audience, or without a tenant or a known role
                (``details["reason"]`` says which).
        """
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _invalid("token_malformed") from None
        algorithm = header.get("alg")
        key: Any
        if algorithm == "HS256" and self._secret is not None:
            key = self._secret
        elif algorithm in ASYMMETRIC_ALGORITHMS and self._jwks is not None:
            try:
                # PyJWKClient fetches with urllib (blocking): the one thread seam.
                signing = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
            except jwt.PyJWKClientError:
                raise _invalid("key_unknown") from None
            key = signing.key
        else:
            raise _invalid("algorithm_not_allowed")
        s = self._settings
        required = ["exp", "sub"] + (["iss"] if s.jwt_issuer else []) + (
            ["aud"] if s.jwt_audience else [])
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=[algorithm], audience=s.jwt_audience,
                issuer=s.jwt_issuer, leeway=s.jwt_leeway_seconds,
                options={"require": required, "verify_aud": s.jwt_audience is not None},
            )  # fmt: skip
        except jwt.ExpiredSignatureError:
            raise _invalid("token_expired", "the bearer token has expired") from None
        except jwt.InvalidSignatureError:
            raise _invalid("signature_invalid") from None
        except jwt.InvalidAudienceError:
            raise _invalid("audience_invalid") from None
        except jwt.InvalidIssuerError:
            raise _invalid("issuer_invalid") from None
        except jwt.ImmatureSignatureError:
            raise _invalid("token_not_yet_valid") from None
        except jwt.PyJWTError:
            raise _invalid("token_invalid") from None
        tenant = claims.get(s.jwt_tenant_claim)
        role = strongest(claims.get(s.jwt_role_claim))
        subject = claims.get("sub")
        if not isinstance(tenant, str) or not tenant or len(tenant) > 200:
            raise _invalid("tenant_missing", f"the token has no {s.jwt_tenant_claim!r} claim")
        if role is None:
            raise _invalid("role_missing", f"the token has no known {s.jwt_role_claim!r} claim")
        if not isinstance(subject, str) or not subject or len(subject) > 190:
            raise _invalid("subject_invalid")
        return Principal(subject=f"user:{subject}", tenant_id=tenant, role=role, method="jwt")


__all__ = ["ASYMMETRIC_ALGORITHMS", "JwtVerifier"]
