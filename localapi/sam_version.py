"""The one SAM CLI version localapi is written against (its private internals change between releases)."""

from importlib.metadata import PackageNotFoundError, version

# Must equal the aws-sam-cli pin in tools/sam-requirements.txt (a test checks it).
SAM_CLI_VERSION = "1.170.0"
SAM_CLI_DISTRIBUTION = "aws-sam-cli"


def sam_cli_problem(expected: str = SAM_CLI_VERSION) -> str | None:
    """Why the installed SAM CLI cannot serve the local API, in one line; None when it is the pinned version."""
    try:
        installed = version(SAM_CLI_DISTRIBUTION)
    except PackageNotFoundError:
        return f"{SAM_CLI_DISTRIBUTION} is not installed in this interpreter; `make dev` installs it in .venv-sam"
    if installed != expected:
        return (
            f"{SAM_CLI_DISTRIBUTION} {installed} is installed, but localapi is written against {expected} "
            "(tools/sam-requirements.txt); reinstall it with `rm -rf .venv-sam && make dev`"
        )
    return None
