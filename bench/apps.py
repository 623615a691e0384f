"""What the bench starts: sample apps, InstantOn flavors, and the start-path experiments.

Add an app or a flavor here; run.py skips what does not exist yet (a sample
directory, or a flavor the instanton_image module does not offer).
"""

from ansible_collections.instanton.platform.plugins.module_utils.host._host_requirements import SECCOMP_PROFILE_PATH

# Each sample app: its directory under samples/, the port and path of its first
# correct answer, and a string that answer's body holds.
APPS = [
    {"name": "python-app", "port": 8080, "path": "/", "expect": '"status":"ok"', "goal_ratio": 0.25},
    {"name": "jvm-app", "port": 8080, "path": "/", "expect": "\"status\": \"ok\"", "goal_ratio": 0.10,
     # Its start-up garbage is dropped before the dump (instanton_image's pre_checkpoint, generic flavor).
     "pre_checkpoint": ["sh", "-c", 'jcmd "$APP_PID" GC.run']},
    # The JVM sample inside the Open Liberty STAND-IN (samples/liberty-standin), for the liberty flavor.
    {"name": "liberty-standin", "port": 9080, "path": "/", "expect": "\"status\": \"ok\"", "goal_ratio": 0.10},
    # Services nobody here wrote (generic flavor, as tests/integration/test_third_party_services.py makes them).
    {"name": "node-app", "port": 8080, "path": "/", "expect": '"app":"node"', "goal_ratio": 0.20},
    {"name": "go-app", "port": 8080, "path": "/", "expect": '"app": "go"', "goal_ratio": 0.20},
    # "prepare": run on the controller before the sample is built (the lab's hosts cannot reach PyPI).
    {"name": "pypi-app", "port": 8080, "path": "/", "expect": '"app":"gunicorn"', "goal_ratio": 0.20,
     "prepare": "fetch-wheels"},
    {"name": "tomcat-app", "port": 8080, "path": "/examples/", "expect": "Apache Tomcat Examples", "goal_ratio": 0.05},
]

# Each flavor: instanton_image arguments beyond name/app_image/readiness, how a start
# says it restored ("marker": the entrypoint's log line; "liberty": CWWKC0452I;
# "print-stats": `podman container restore --print-stats`), and where CRIU writes its
# own restore statistics in the container (podman's --print-stats carries them).
FLAVORS = {
    "generic": {"module_args": {}, "stats": "marker",
                "apps": ["python-app", "jvm-app", "node-app", "go-app", "pypi-app", "tomcat-app"],
                "stats_file": "/instanton/checkpoint/stats-restore"},
    "liberty": {"module_args": {}, "stats": "liberty", "apps": ["liberty-standin"],
                "stats_file": "/opt/ol/wlp/output/defaultServer/workarea/checkpoint/image/stats-restore"},
    "podman": {"module_args": {}, "stats": "print-stats", "apps": ["python-app", "jvm-app"]},
}

# podman run options of InstantOn containers, as instanton_container passes them.
RESTORE_OPTIONS = ["--cap-add", "CHECKPOINT_RESTORE", "--cap-add", "SETPCAP",
                   "--security-opt", "seccomp=%s" % SECCOMP_PROFILE_PATH]

# How an InstantOn container of the generic flavor is started, each measured beside
# `podman run` (the flavor's own row): a spare made ahead with `podman create`
# (instanton_container state=created), optionally in a running pod that holds the
# network and the published port, started by `podman start` or through podman's API
# socket (instanton_container api_socket), as an activator scaling from zero would.
START_PATHS = [
    {"label": "spare, podman start", "pod": False, "api": False},
    {"label": "spare in pod, podman start", "pod": True, "api": False},
    {"label": "spare in pod, API start", "pod": True, "api": True},
]

# The podman flavor also restored from its exported archive (`podman container restore
# --import`), once per compression: what shipping checkpoints as files costs at start.
ARCHIVE_COMPRESSIONS = ["none", "gzip", "zstd"]
ARCHIVE_DIR = "/var/lib/instanton-bench"

# Start-path experiments on the generic flavor (BENCH_EXPERIMENTS=1): each changes
# the `podman run` options or the entrypoint script, everything else as "instanton".
# "entrypoint" is a list of (regex, replacement) edits of instanton_scripts.ENTRYPOINT_SCRIPT.
VERBOSITY = r'(--log-file "\$restore_log") -v\d'
EXPERIMENTS = [
    {"label": "net=host", "network": "host"},
    {"label": "log-driver=none", "options": ["--log-driver", "none"]},
    {"label": "cgroups=disabled", "options": ["--cgroups", "disabled"]},
    {"label": "pull=never", "options": ["--pull", "never"]},
    {"label": "criu -v1", "entrypoint": [(VERBOSITY, r"\1 -v1")]},
    {"label": "criu -v4", "entrypoint": [(VERBOSITY, r"\1 -v4")]},
]
