"""tools/local_jwt: the local identity provider behind `make token` and the local API's JWT authorizer."""

from __future__ import annotations

import io
import json
import stat
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from tools import local_jwt
from tools.local_jwt import LocalIdentity

NOW = 1_800_000_000
IDENTITY = LocalIdentity(issuer="https://issuer.test", audience="bff-test")


def test_the_first_use_creates_a_private_key_only_its_owner_reads_and_a_public_jwks(tmp_path: Path) -> None:
    # Given an empty key directory
    directory = tmp_path / "jwt"

    # When the key is asked for
    key = local_jwt.ensure_key(directory)

    # Then the private key is readable by its owner only, and the JWKS holds its public half under its thumbprint
    assert stat.S_IMODE((directory / "private.pem").stat().st_mode) == 0o600
    (published,) = json.loads((directory / "jwks.json").read_text())["keys"]
    assert published["kid"] == key.kid == key.thumbprint()
    assert published["alg"] == "RS256"
    assert published["n"] == key.as_dict(private=False)["n"]
    assert not {"d", "p", "q", "dp", "dq", "qi"} & published.keys()


def test_a_second_use_keeps_the_key(tmp_path: Path) -> None:
    # Given a key made on first use
    first = local_jwt.ensure_key(tmp_path)

    # When the key is asked for again
    second = local_jwt.ensure_key(tmp_path)

    # Then it is the same key, so tokens minted earlier stay valid
    assert second.kid == first.kid
    assert local_jwt.load_jwks(tmp_path).get_by_kid(first.kid).as_dict() == first.as_dict(private=False)


def test_a_minted_token_is_rs256_with_the_keys_kid_and_the_local_claims(tmp_path: Path) -> None:
    # Given the local key
    key = local_jwt.ensure_key(tmp_path)

    # When a token is minted for alice with two scopes
    token = local_jwt.mint(key, subject="alice", scopes=["cart:read", "cart:write"], identity=IDENTITY, now=NOW)

    # Then it verifies against the JWKS, expires in an hour and carries the scopes space-separated
    decoded = jwt.decode(token, local_jwt.load_jwks(tmp_path), algorithms=["RS256"])
    assert decoded.header == {"typ": "JWT", "alg": "RS256", "kid": key.kid}
    assert decoded.claims == {
        "iss": "https://issuer.test",
        "aud": "bff-test",
        "sub": "alice",
        "iat": NOW,
        "nbf": NOW,
        "exp": NOW + 3600,
        "token_use": "access",
        "scope": "cart:read cart:write",
    }


def test_a_token_without_scopes_has_no_scope_claim(tmp_path: Path) -> None:
    token = local_jwt.mint(local_jwt.ensure_key(tmp_path), subject="bob", scopes=[], identity=IDENTITY, now=NOW)
    assert "scope" not in jwt.decode(token, local_jwt.load_jwks(tmp_path)).claims


def test_another_key_does_not_verify_a_local_token(tmp_path: Path) -> None:
    # Given a token from the local key
    token = local_jwt.mint(local_jwt.ensure_key(tmp_path), subject="alice", scopes=[], identity=IDENTITY, now=NOW)

    # When it is checked against another RSA key
    # Then the signature does not hold
    with pytest.raises(Exception, match="bad_signature"):
        jwt.decode(token, RSAKey.generate_key(2048), algorithms=["RS256"])


def test_issuer_and_audience_are_the_templates_defaults() -> None:
    # Given the project's template
    # When the local identity is read without overrides
    identity = local_jwt.local_identity({})

    # Then it is JwtIssuer's and JwtAudience's defaults
    defaults = local_jwt.template_parameter_defaults()
    assert identity == LocalIdentity(defaults["JwtIssuer"], defaults["JwtAudience"])
    assert identity.issuer.startswith("https://")


def test_the_environment_overrides_issuer_and_audience() -> None:
    identity = local_jwt.local_identity({"JWT_ISSUER": "https://other.test", "JWT_AUDIENCE": "other-aud"})
    assert identity == LocalIdentity("https://other.test", "other-aud")


def test_the_key_directory_is_local_jwt_unless_moved() -> None:
    assert local_jwt.key_dir({}) == local_jwt.REPO_ROOT / ".local" / "jwt"
    assert local_jwt.key_dir({"LOCAL_JWT_DIR": "/tmp/keys"}) == Path("/tmp/keys")


def test_the_command_prints_just_the_token(tmp_path: Path) -> None:
    # Given a key directory
    output = io.StringIO()

    # When the command mints a token for alice
    with redirect_stdout(output):
        status = local_jwt.main(["--sub", "alice", "--scopes", "cart:read"], {"LOCAL_JWT_DIR": str(tmp_path)})

    # Then its output is one line: a token for alice that the JWKS verifies
    (line,) = output.getvalue().splitlines()
    assert status == 0
    claims = jwt.decode(line, local_jwt.load_jwks(tmp_path)).claims
    assert (claims["sub"], claims["scope"]) == ("alice", "cart:read")
    assert claims["exp"] - claims["iat"] == 3600


def test_the_command_refuses_an_empty_subject(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        local_jwt.main(["--sub", " "], {"LOCAL_JWT_DIR": str(tmp_path)})
    assert not (tmp_path / "private.pem").exists()
