"""Checks on the local API's listening port."""

import socket
import time

POLL_INTERVAL_S = 0.02


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the HTTP server does, so that a connection lingering in TIME_WAIT is not taken for a listener.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def wait_until_listening(host: str, port: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=POLL_INTERVAL_S * 10):
                return True
        except OSError:
            time.sleep(POLL_INTERVAL_S)
    return False
