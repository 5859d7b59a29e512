"""Connection pool details that need no server."""

import pytest

from braze_assets.braze.transport import ConnectionPool


def pool(url: str) -> ConnectionPool:
    return ConnectionPool(url, size=2, connect_timeout_s=1, read_timeout_s=1)


def test_https_proxy_from_environment_tunnels(monkeypatch):
    monkeypatch.setenv("https_proxy", "http://proxy.internal:3128")
    monkeypatch.delenv("no_proxy", raising=False)
    p = pool("https://rest.iad-03.braze.com")
    conn = p._new_connection()
    assert (conn.host, conn.port) == ("proxy.internal", 3128)
    assert conn._tunnel_host == "rest.iad-03.braze.com" and conn._tunnel_port == 443


def test_loopback_and_no_proxy_hosts_go_direct(monkeypatch):
    monkeypatch.setenv("http_proxy", "http://proxy.internal:3128")
    monkeypatch.setenv("https_proxy", "http://proxy.internal:3128")
    assert pool("http://127.0.0.1:4010")._proxy is None
    monkeypatch.setenv("no_proxy", "braze.com")
    assert pool("https://rest.iad-03.braze.com")._proxy is None


def test_path_prefix_and_bad_endpoints(monkeypatch):
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert pool("http://127.0.0.1:1/prefix/")._target("/users/track") == "/prefix/users/track"
    with pytest.raises(ValueError, match="https://host"):
        pool("rest.iad-03.braze.com")
