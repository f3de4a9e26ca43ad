"""The local identity provider: an RSA key kept out of git, its JWKS, and RS256 access tokens signed with it.

`make token` mints tokens with it, the local API (localapi/jwt_authorizer.py) verifies them against its JWKS, and the
tests do both. The key pair is created on first use in `.local/jwt/` (LOCAL_JWT_DIR overrides): `private.pem` (mode
0600) and `jwks.json`, whose one key's `kid` is the key's RFC 7638 thumbprint. Issuer and audience are the template's
JwtIssuer and JwtAudience defaults, or JWT_ISSUER and JWT_AUDIENCE from the environment, so that tokens and the local
authorizer always agree. Needs joserfc and PyYAML (both in the app's and SAM CLI's virtualenvs).

    python -m tools.local_jwt --sub alice --scopes "cart:read cart:write"   # prints the token
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = REPO_ROOT / "template.yaml"
DEFAULT_KEY_DIR = REPO_ROOT / ".local" / "jwt"
KEY_DIR_VARIABLE = "LOCAL_JWT_DIR"
PRIVATE_KEY_FILE = "private.pem"
JWKS_FILE = "jwks.json"
ALGORITHM = "RS256"
KEY_SIZE_BITS = 2048
TOKEN_LIFETIME_S = 3600
# Template parameter -> environment variable that overrides its default locally.
ISSUER_PARAMETER, AUDIENCE_PARAMETER = "JwtIssuer", "JwtAudience"
PARAMETER_VARIABLES = {ISSUER_PARAMETER: "JWT_ISSUER", AUDIENCE_PARAMETER: "JWT_AUDIENCE"}


@dataclass(frozen=True)
class LocalIdentity:
    issuer: str
    audience: str


class _IgnoringIntrinsics(yaml.SafeLoader):
    """Reads a CloudFormation template for its literal values; intrinsic functions (!Ref, !Sub, ...) read as None."""


_IgnoringIntrinsics.add_multi_constructor("!", lambda _loader, _suffix, _node: None)


def template_parameter_defaults(template: Path = TEMPLATE) -> dict[str, str]:
    document = yaml.load(template.read_text(), _IgnoringIntrinsics)  # noqa: S506 - a SafeLoader
    parameters: Mapping[str, Any] = (document or {}).get("Parameters") or {}
    return {
        name: str(parameter["Default"])
        for name, parameter in parameters.items()
        if isinstance(parameter, Mapping) and "Default" in parameter
    }


def parameter_values(environ: Mapping[str, str], template: Path = TEMPLATE) -> dict[str, str]:
    """The template's parameter defaults, with JWT_ISSUER and JWT_AUDIENCE taking the place of theirs when set."""
    values = template_parameter_defaults(template)
    for parameter, variable in PARAMETER_VARIABLES.items():
        if environ.get(variable):
            values[parameter] = environ[variable]
    return values


def local_identity(environ: Mapping[str, str], template: Path = TEMPLATE) -> LocalIdentity:
    values = parameter_values(environ, template)
    return LocalIdentity(issuer=values[ISSUER_PARAMETER], audience=values[AUDIENCE_PARAMETER])


def key_dir(environ: Mapping[str, str]) -> Path:
    return Path(environ[KEY_DIR_VARIABLE]) if environ.get(KEY_DIR_VARIABLE) else DEFAULT_KEY_DIR


def ensure_key(directory: Path) -> RSAKey:
    """The private key in `directory`, created with its JWKS when there is none yet."""
    private_pem = directory / PRIVATE_KEY_FILE
    if not private_pem.exists():
        _create_key(directory)
    key = RSAKey.import_key(private_pem.read_bytes(), parameters={"alg": ALGORITHM, "use": "sig"})
    key.ensure_kid()
    return key


def _create_key(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    key = RSAKey.generate_key(KEY_SIZE_BITS, parameters={"alg": ALGORITHM, "use": "sig"}, private=True)
    key.ensure_kid()
    # The JWKS first and each file by rename: a reader (the local API, another `make token`) never sees half a
    # file, and a private key that exists always has its JWKS. Two first uses at once: the last rename wins both.
    _write_atomically(directory / JWKS_FILE, json.dumps(public_jwks(key), indent=2).encode(), mode=0o644)
    _write_atomically(directory / PRIVATE_KEY_FILE, key.as_pem(private=True), mode=0o600)


def _write_atomically(path: Path, content: bytes, mode: int) -> None:
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(descriptor, mode)
        os.write(descriptor, content)
    finally:
        os.close(descriptor)
    Path(temporary).replace(path)


def public_jwks(key: RSAKey) -> dict[str, Any]:
    return {"keys": [key.as_dict(private=False)]}


def load_jwks(directory: Path) -> KeySet:
    return KeySet.import_key_set(json.loads((directory / JWKS_FILE).read_text()))


def mint(
    key: RSAKey,
    *,
    subject: str,
    scopes: Sequence[str],
    identity: LocalIdentity,
    lifetime_s: int = TOKEN_LIFETIME_S,
    now: float | None = None,
) -> str:
    issued_at = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "iss": identity.issuer,
        "aud": identity.audience,
        "sub": subject,
        "iat": issued_at,
        "nbf": issued_at,
        "exp": issued_at + lifetime_s,
        "token_use": "access",
    }
    if scopes:
        claims["scope"] = " ".join(scopes)
    return jwt.encode({"alg": ALGORITHM, "kid": key.kid}, claims, key, algorithms=[ALGORITHM])


def main(argv: list[str] | None = None, environ: Mapping[str, str] = os.environ) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.local_jwt", description="Mint a local access token.")
    parser.add_argument("--sub", required=True, help="the shopper's id (sub claim)")
    parser.add_argument("--scopes", default="", help='space-separated scopes, e.g. "cart:read cart:write"')
    parser.add_argument("--lifetime-s", type=int, default=TOKEN_LIFETIME_S, help="seconds until it expires")
    arguments = parser.parse_args(argv)
    if not arguments.sub.strip():
        parser.error("--sub must not be empty (make token SUB=alice)")
    token = mint(
        ensure_key(key_dir(environ)),
        subject=arguments.sub.strip(),
        scopes=arguments.scopes.split(),
        identity=local_identity(environ),
        lifetime_s=arguments.lifetime_s,
    )
    sys.stdout.write(token + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
