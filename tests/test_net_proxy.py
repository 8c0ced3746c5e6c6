"""scripts/net_proxy.py: the slow / lossy / absent link the device benchmarks and the offline tests use."""

from __future__ import annotations

import time

import pytest
import requests

from scripts.net_proxy import NetProxy
from tests.app.scripted_server import ScriptedServer


def timed_get(url: str, session: requests.Session) -> float:
    started = time.perf_counter()
    assert session.get(url, timeout=5).json() == {"ok": True}
    return time.perf_counter() - started


def test_the_link_adds_its_round_trip_and_loss_shows_as_delay():
    with ScriptedServer(lambda req: (200, {"ok": True}), protocol_version="HTTP/1.1") as server:
        with NetProxy(f"127.0.0.1:{server.port}", rtt_ms=60).start() as proxy:
            session = requests.Session()
            first = timed_get(f"http://{proxy.address}/", session)      # handshake + request
            warm = min(timed_get(f"http://{proxy.address}/", session) for _ in range(3))
            assert proxy.connections == 1  # kept alive: the later requests pay no handshake
        assert first >= 0.115 and 0.055 <= warm < first - 0.04
        with NetProxy(f"127.0.0.1:{server.port}", rtt_ms=0, loss=1.0, rto_ms=150) as lossy:
            assert timed_get(f"http://{lossy.address}/", requests.Session()) >= 0.29  # both ways late


def test_offline_refuses_and_back_online_answers():
    with ScriptedServer(lambda req: (200, {"ok": True})) as server, \
            NetProxy(f"127.0.0.1:{server.port}") as proxy:
        session = requests.Session()
        timed_get(f"http://{proxy.address}/", session)
        proxy.online = False
        with pytest.raises(requests.ConnectionError):
            session.get(f"http://{proxy.address}/", timeout=5)
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://{proxy.address}/", timeout=5)
        proxy.online = True
        timed_get(f"http://{proxy.address}/", session)
        assert proxy.connections == 2 and len(server.seen) == 2
