"""Fixtures the compat tests share (pytest loads this file for every test in tests/compat)."""

import pytest

from _lp_server import Server


@pytest.fixture(scope="module")
def server():
    """A fresh `handrail serve` of its own for each test module."""
    s = Server()
    yield s
    s.stop()


@pytest.fixture
def lp(server):
    """The published `letsping` client on the server's LetsPing routes, with the agent key."""
    from letsping import LetsPing  # imported here: only the LetsPing tests need the client

    client = LetsPing(api_key=server.agent_key, base_url=server.url + "/compat/letsping/api/")
    yield client
    client.close()
