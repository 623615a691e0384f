"""readiness: what a check needs; wait_until probes often and asks podman whether the container still runs seldom."""
import http.server
import socket
import socketserver
import threading

from ansible_collections.instanton.platform.plugins.module_utils.common import _readiness as readiness


class Counter(object):
    """A probe or an alive check: its answers in order, then `afterwards`; counts its calls."""

    def __init__(self, answers, afterwards=False):
        self.answers = list(answers)
        self.afterwards = afterwards
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return self.answers.pop(0) if self.answers else self.afterwards


def test_probes_run_at_every_poll_but_the_alive_check_only_now_and_then():
    probe = Counter([False] * 19 + [True])
    alive = Counter([], afterwards=True)
    assert readiness.wait_until(probe, 30, alive) is not None
    assert probe.calls == 20
    # 19 polls of 10 ms: at most a check or two, not one per poll.
    assert alive.calls <= 2


def test_a_dead_container_ends_the_wait_without_the_timeout():
    alive = Counter([])
    waited = readiness.wait_until(Counter([]), 30, alive)
    assert waited is None and alive.calls == 1


def test_problem_names_what_is_wrong_with_a_readiness_check():
    check = {"type": "http", "port": 8080, "path": "/", "pattern": None, "timeout": 60}
    assert readiness.problem(check) is None
    assert readiness.problem(None) is None
    assert "port is required" in readiness.problem(dict(check, port=None))
    assert "between 1 and 65535, not 99999" in readiness.problem(dict(check, port=99999))
    assert "pattern is required" in readiness.problem(dict(check, type="log"))
    assert "at least 1 second" in readiness.problem(dict(check, timeout=0))


def serve_ok(address, family):
    """A real HTTP server answering 200 on address, in a thread."""
    class Server(socketserver.TCPServer):
        address_family = family
        allow_reuse_address = True

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = Server((address, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_http_probe_of_loopback_ignores_the_proxy_environment(monkeypatch):
    server = serve_ok("127.0.0.1", socket.AF_INET)
    try:
        # A proxy that refuses every connection: a probe that used it would never see the 200.
        for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
            monkeypatch.setenv(name, "http://127.0.0.1:9/")
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        assert readiness.http_ok(readiness.http_url("127.0.0.1", server.server_address[1], "/"))
    finally:
        server.shutdown()


def test_http_probe_of_ipv6_loopback():
    server = serve_ok("::1", socket.AF_INET6)
    try:
        url = readiness.http_url("::1", server.server_address[1], "/")
        assert url == "http://[::1]:%d/" % server.server_address[1]
        assert readiness.http_ok(url)
    finally:
        server.shutdown()
