"""`make bench` rows for scale to zero: the first request after an idle period, through the held
port (connection to first answer: the proxy holds the connection while the service starts), for
the idle actions stop and checkpoint, and the memory the service held before it went idle and after.

The services come from the scale_to_zero role (playbooks/scale_to_zero.yml) on the bench host; the
timing runs on the host (bench/onhost_scale_to_zero.py)."""
from pathlib import Path

BENCH = Path(__file__).resolve().parent
IDLE_TIME = "2s"
# Public and backend ports of each idle action's service.
SERVICES = {"stop": (28301, 28401), "checkpoint": (28302, 28402)}
# The fast path timed again in every round, just before the wakes: the machine's load drifts
# between the bench's phases, and a ratio of starts taken minutes apart measures the drift too.
PAIRED_FAST_PATH_PORT = 28303


def service_name(action):
    return "instanton-bench-stz-%s" % action


def role_vars(host, image, action):
    public, backend = SERVICES[action]
    return {"instanton_hosts": host[0], "scale_to_zero_name": service_name(action), "scale_to_zero_image": image,
            "scale_to_zero_listen": "127.0.0.1:%d" % public, "scale_to_zero_backend_port": backend,
            "scale_to_zero_idle_action": action, "scale_to_zero_idle_time": IDLE_TIME, "scale_to_zero_keep": 1}


def paired_label(app_name):
    return "%s/fast path, paired with the wakes" % app_name


def host_spec(app, runs, image, restore_options):
    return {"runs": runs, "timeout": 120,
            "fast_path": {"label": paired_label(app["name"]), "image": image, "options": restore_options,
                          "port": PAIRED_FAST_PATH_PORT, "app_port": app["port"], "path": app["path"],
                          "expect": app["expect"]},
            "services": [
        {"label": "%s/scale to zero, %s" % (app["name"], action), "name": service_name(action),
         "port": SERVICES[action][0], "path": app["path"], "expect": app["expect"]} for action in SERVICES]}


def wake_steps(group):
    """Where a wake's time goes, from the tool's record (its clock starts when the connection arrives):
    until the start command returned, then until the service's first answer to the tool, then the rest
    (the proxy's start, its connection to the service and the client's answer)."""
    import stats
    timed = [s for s in group if s.get("tool_start_ms") is not None and s.get("tool_answer_ms") is not None]
    return {"start_command": stats.summary([s["tool_start_ms"] for s in timed]),
            "until_first_answer": stats.summary([s["tool_answer_ms"] - s["tool_start_ms"] for s in timed]),
            "proxy_and_answer": stats.summary([s["ms"] - s["tool_answer_ms"] for s in timed])}


def summary(samples, app_name):
    """Per idle action: median wake vs the median of the fast path timed in the same rounds, and the
    memory held before idle and after."""
    import stats
    fast = stats.summary([s["ms"] for s in samples if s["label"] == paired_label(app_name)])
    found = {"fast_path": paired_label(app_name), "fast_path_ms": fast}
    for label, group in stats.by_label([s for s in samples if "scale to zero" in s["label"]]).items():
        wake = stats.summary([s["ms"] for s in group])
        found[label] = {"first_request_ms": wake, "vs_fast_path": stats.ratio(wake, fast),
                        "restored": sum(1 for s in group if s.get("restored")), "n": len(group),
                        "steps_ms": wake_steps(group),
                        "rss_kb_before_idle": stats.summary([s.get("rss_kb_before_idle") for s in group]),
                        "rss_kb_after_idle": stats.summary([s.get("rss_kb_after_idle") for s in group])}
    return found
