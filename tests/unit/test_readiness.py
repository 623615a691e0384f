"""readiness: what a check needs; wait_until probes often and asks podman whether the container still runs seldom."""
from ansible_collections.instanton.platform.plugins.module_utils import readiness


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
