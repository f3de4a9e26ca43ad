from collections import Counter

import pytest

from tests.support.local_api import shared_local_api

__all__ = ["seen_statuses", "shared_local_api"]

type StatusTally = Counter[tuple[str, int]]

_SEEN_STATUSES = pytest.StashKey[StatusTally]()


@pytest.fixture(scope="session")
def seen_statuses(request: pytest.FixtureRequest) -> StatusTally:
    """Which side answered (BFF or gateway) with which status, summarised at the end of the run."""
    return request.config.stash.setdefault(_SEEN_STATUSES, Counter())


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    tally = config.stash.get(_SEEN_STATUSES, None)
    if not tally:
        return
    terminalreporter.write_sep("-", "statuses seen through the local API")
    for (answered_by, status), count in sorted(tally.items()):
        terminalreporter.write_line(f"{answered_by:>7} {status}: {count}")
