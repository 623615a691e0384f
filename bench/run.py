"""`make bench`: cold starts against InstantOn starts on a lab host, medians and ratios.

Images are built with the collection's own modules (ansible); the timing runs ON the
host (bench/onhost.py: `podman run` and HTTP polling there), so SSH latency is not in
any figure. Settings (environment): BENCH_HOST (first host of .lab/inventory.yml),
BENCH_RUNS (7), BENCH_APPS / BENCH_FLAVORS (comma lists; default all that exist),
BENCH_REBUILD (1: rebuild InstantOn images, which times the build), BENCH_EXPERIMENTS
(1: also the start-path experiments of bench/apps.py), BENCH_CONVERGE (1: time
playbooks/provision.yml on the host, twice), BENCH_BUDGET (seconds for the timed runs).
"""
import datetime
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(REPO / ".collections"))

import apps  # noqa: E402
import scale_to_zero  # noqa: E402
import stats  # noqa: E402

BIN = REPO / ".venv" / "bin"
INVENTORY = Path(os.environ.get("INSTANTON_INVENTORY", REPO / ".lab" / "inventory.yml"))
# The on-host scripts (bench/onhost*.py) go here, side by side: the scale-to-zero one imports onhost.
ONHOST_DIR = "/tmp/instanton-bench"
FIRST_PORT = 28080


def setting(name, default):
    return os.environ.get("BENCH_" + name) or default


def ansible_env():
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    return env


def inventory_host(name):
    import yaml
    lab = yaml.safe_load(INVENTORY.read_text())["all"]["children"]["lab"]
    name = name or next(iter(lab["hosts"]))
    return name, lab["hosts"][name]["ansible_host"], lab["vars"]["ansible_ssh_private_key_file"]


def ssh(host, command, stdin=None, timeout=3600):
    _, address, key = host
    done = subprocess.run(["ssh", "-i", key, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                           "-o", "LogLevel=ERROR", "root@" + address, command],
                          input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=timeout, check=False)
    if done.returncode:
        raise SystemExit("bench: on %s, %s failed: %s" % (address, command, done.stderr[-2000:]))
    return done.stdout


def run_module(host, module, args):
    """One module run, ad hoc; (result dict, wall seconds)."""
    started = time.monotonic()
    done = subprocess.run([str(BIN / "ansible"), host[0], "-i", str(INVENTORY), "-m", module, "-a", json.dumps(args)],
                          cwd=str(REPO), env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=1800, check=False)
    seconds = time.monotonic() - started
    result = json.loads(done.stdout)["plays"][0]["tasks"][0]["hosts"][host[0]]
    if result.get("failed"):
        raise SystemExit("bench: %s failed: %s" % (module, result.get("msg")))
    return result, seconds


def playbook(host, path, extra_vars):
    """Run a playbook on the host; (wall seconds, changed task count)."""
    started = time.monotonic()
    done = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(INVENTORY), str(path), "--limit", host[0],
                           "-e", json.dumps(extra_vars)], cwd=str(REPO), env=ansible_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=3600, check=False)
    seconds = round(time.monotonic() - started, 1)
    if done.returncode:
        raise SystemExit("bench: %s failed: %s" % (path, (done.stdout + done.stderr)[-3000:]))
    report = json.loads(done.stdout)
    return seconds, sum(h.get("changed", 0) for h in report.get("stats", {}).values())


def offered_flavors():
    """The flavors instanton_image accepts (its argument spec's choices)."""
    from ansible_collections.instanton.platform.plugins.modules import instanton_image
    return sorted(instanton_image.FLAVORS)


def selected(names, env_name):
    wanted = setting(env_name, "")
    return [n for n in names if not wanted or n in wanted.split(",")]


def plan():
    """(app, flavor) pairs that exist now."""
    pairs = []
    for app in apps.APPS:
        if app["name"] not in selected([a["name"] for a in apps.APPS], "APPS"):
            continue
        if not (REPO / "samples" / app["name"]).is_dir():
            continue
        for flavor in selected(offered_flavors(), "FLAVORS"):
            spec = apps.FLAVORS.get(flavor)
            if spec and app["name"] in spec.get("apps", [app["name"]]):
                pairs.append((app, flavor))
    return pairs


def app_image(app):
    return "localhost/instanton-sample-%s:latest" % app["name"]


def instanton_image(app, flavor):
    return "localhost/instanton-sample-%s:instanton-%s" % (app["name"], flavor)


def build(host, pairs):
    """Sample app images (sample_app.yml), then InstantOn images (instanton_image); build seconds."""
    built = {}
    for app in sorted({app["name"]: app for app, _ in pairs}.values(), key=lambda app: app["name"]):
        if app.get("prepare"):
            subprocess.run([str(REPO / "samples" / app["name"] / app["prepare"]), str(BIN / "pip")], check=True)
        playbook(host, REPO / "playbooks" / "sample_app.yml", {"instanton_hosts": host[0], "sample_app": app["name"]})
    for app, flavor in pairs:
        args = dict(apps.FLAVORS[flavor]["module_args"], name=instanton_image(app, flavor), app_image=app_image(app),
                    readiness={"type": "http", "port": app["port"], "path": app["path"]},
                    force=setting("REBUILD", "1") == "1")
        if flavor != "generic":
            args["flavor"] = flavor
        elif app.get("pre_checkpoint"):
            args["pre_checkpoint"] = app["pre_checkpoint"]
        builds = [("%s/%s" % (app["name"], flavor), args)]
        if flavor == "podman":
            builds += [("%s/podman archive %s" % (app["name"], compression),
                        dict(args, name="%s-%s" % (args["name"], compression),
                             export={"path": archive_path(app, compression), "compression": compression}))
                       for compression in apps.ARCHIVE_COMPRESSIONS]
        for label, build_args in builds:
            print("bench: building %s" % label, flush=True)
            result, seconds = run_module(host, "instanton.platform.instanton_image", build_args)
            if result.get("changed"):
                built[label] = result.get("build_seconds") or round(seconds, 1)
    return built


def archive_path(app, compression):
    suffix = {"none": ".tar", "gzip": ".tar.gz", "zstd": ".tar.zst"}[compression]
    return "%s/%s%s" % (apps.ARCHIVE_DIR, app["name"], suffix)


def start_argv(app, flavor, image, port, options=(), network=None):
    """The host-side command that starts one container; {name} is filled in on the host."""
    publish = [] if network == "host" else ["--publish", "127.0.0.1:%d:%d" % (port, app["port"])]
    net = ["--network", network] if network else []
    if flavor in ("podman", "podman-archive"):
        source = ["--import", image] if flavor == "podman-archive" else list(options) + [image]
        return ["podman", "container", "restore", "--print-stats", "--name", "{name}"] + publish + source
    caps = apps.RESTORE_OPTIONS if flavor else []
    return ["podman", "run", "--detach", "--name", "{name}"] + caps + net + publish + list(options) + [image]


def variant(label, app, flavor, image, port, stats_kind="marker", **start):
    return {"label": label, "argv": start_argv(app, flavor, image, port, **start),
            "port": app["port"] if start.get("network") == "host" else port,
            "path": app["path"], "expect": app["expect"], "stats": stats_kind,
            "stats_file": apps.FLAVORS.get(flavor, {}).get("stats_file")}


def add_criu_statistics(samples):
    """CRIU's own restore figures per sample: decoded from its stats-restore (with the collection's
    CRIU image reader) or taken from podman's --print-stats."""
    from ansible_collections.instanton.platform.plugins.module_utils.kubernetes._checkpoint_archive import restore_statistics
    for sample in samples:
        raw = sample.pop("criu_stats_hex", "")
        found = sample.pop("criu_stats", None) or (restore_statistics(bytes.fromhex(raw)) if raw else None)
        if found:
            sample.update(criu_restore_ms=round(found.get("restore_time", 0) / 1000.0, 1),
                          criu_forking_ms=round(found.get("forking_time", 0) / 1000.0, 1),
                          criu_pages_restored=found.get("pages_restored"))


def spare_variant(label, app, image, port, path):
    """A spare created before the clock starts (in a running pod that holds the network and the
    published port, when path["pod"]), timed from its start (through the API, when path["api"])."""
    spare = dict(variant(label, app, "generic", image, port), api_start=path["api"])
    create = ["create", "--name", "{name}"] + apps.RESTORE_OPTIONS
    publish = ["--publish", "127.0.0.1:{port}:%d" % app["port"]]
    if path["pod"]:
        spare["prepare"] = [["pod", "create", "--name", "{name}-pod"] + publish, ["pod", "start", "{name}-pod"],
                            create + ["--pod", "{name}-pod", image]]
        spare["cleanup"] = [["pod", "rm", "--force", "--time", "0", "{name}-pod"]]
    else:
        spare["prepare"] = [create + publish + [image]]
    spare["argv"] = ["podman", "start", "{name}"]
    return spare


def entrypoint_variant(replacements):
    from ansible_collections.instanton.platform.plugins.module_utils.instanton import _instanton_scripts as instanton_scripts
    text = instanton_scripts.ENTRYPOINT_SCRIPT
    for pattern, new in replacements:
        text = re.sub(pattern, new, text)
    return text


def host_spec(pairs, runs):
    """What onhost.py runs: per app, one cold variant and one per flavor, alternating."""
    variants, derive = [], []
    port = FIRST_PORT
    for name in sorted({app["name"] for app, _ in pairs}):
        app = next(a for a, _ in pairs if a["name"] == name)
        variants.append(variant("%s/cold" % name, app, None, app_image(app), port))
        port += 1
        for _, flavor in [p for p in pairs if p[0]["name"] == name]:
            kind = apps.FLAVORS[flavor]["stats"]
            variants.append(variant("%s/%s" % (name, flavor), app, flavor, instanton_image(app, flavor), port, kind))
            port += 1
            for compression in apps.ARCHIVE_COMPRESSIONS if flavor == "podman" else []:
                variants.append(variant("%s/podman archive %s" % (name, compression), app, "podman-archive",
                                        archive_path(app, compression), port, kind))
                port += 1
            for path in apps.START_PATHS if flavor == "generic" else []:
                variants.append(spare_variant("%s/generic %s" % (name, path["label"]), app,
                                              instanton_image(app, flavor), port, path))
                port += 1
    if setting("EXPERIMENTS", "0") == "1":
        for app, flavor in [p for p in pairs if p[1] == "generic"]:
            for number, experiment in enumerate(apps.EXPERIMENTS):
                image = instanton_image(app, flavor)
                if "entrypoint" in experiment:
                    image = "localhost/instanton-bench-variant:%s-%d" % (app["name"], number)
                    derive.append({"tag": image, "from": instanton_image(app, flavor),
                                   "files": {"/usr/local/lib/instanton/entrypoint":
                                             entrypoint_variant(experiment["entrypoint"])}})
                label = "%s/generic %s" % (app["name"], experiment["label"])
                variants.append(variant(label, app, flavor, image, port, options=experiment.get("options", ()),
                                        network=experiment.get("network")))
                port += 1
    images = sorted({app_image(a) for a, _ in pairs} | {instanton_image(a, f) for a, f in pairs})
    archives = [archive_path(a, c) for a, f in pairs if f == "podman" for c in apps.ARCHIVE_COMPRESSIONS]
    return {"runs": runs, "timeout": 60, "budget": int(setting("BUDGET", "2400")), "variants": variants,
            "derive": derive, "images": images, "files": archives}


def scale_to_zero_samples(host, pairs, runs):
    """The scale-to-zero rows (bench/scale_to_zero.py), on the python app's generic InstantOn image;
    the services are removed afterwards."""
    app = next((a for a, f in pairs if a["name"] == "python-app" and f == "generic"), None)
    if app is None or setting("SCALE_TO_ZERO", "1") != "1":
        return []
    stz_playbook = REPO / "playbooks" / "scale_to_zero.yml"
    for action in scale_to_zero.SERVICES:
        playbook(host, stz_playbook, scale_to_zero.role_vars(host, instanton_image(app, "generic"), action))
    ssh(host, "cat > %s/onhost_scale_to_zero.py" % ONHOST_DIR, stdin=(BENCH / "onhost_scale_to_zero.py").read_text())
    try:
        spec = scale_to_zero.host_spec(app, runs, instanton_image(app, "generic"), apps.RESTORE_OPTIONS)
        measured = ssh(host, "python3 %s/onhost_scale_to_zero.py" % ONHOST_DIR, stdin=json.dumps(spec))
    finally:
        for action in scale_to_zero.SERVICES:
            playbook(host, stz_playbook, dict(scale_to_zero.role_vars(host, "", action), scale_to_zero_state="absent"))
    return json.loads(measured)["samples"]


def summarize(pairs, measured, built, converge, host, runs):
    add_criu_statistics(measured["samples"])
    groups = stats.by_label(measured["samples"])
    result = {"schema": stats.SCHEMA_VERSION, "date": datetime.date.today().isoformat(),
              "host": {"name": host[0], "address": host[1], "load_after": measured.get("load")},
              "runs": runs, "measured_on": "host (bench/onhost.py: podman run + HTTP polling every 5 ms)",
              "apps": {}, "variants": {}, "images": measured["images"], "archives": measured.get("files"),
              "build_seconds": built,
              "converge": converge, "samples": measured["samples"]}
    for app, flavor in pairs:
        entry = stats.flavor_entry(measured["samples"], "%s/cold" % app["name"], "%s/%s" % (app["name"], flavor))
        entry["goal_ratio"] = app["goal_ratio"]
        result["apps"].setdefault(app["name"], {})[flavor] = entry
    for label, samples in groups.items():
        app = label.split("/")[0]
        base = stats.summary([s["ms"] for s in groups.get("%s/generic" % app, [])])
        cold = stats.summary([s["ms"] for s in groups.get("%s/cold" % app, [])])
        result["variants"][label] = stats.variant_summary(samples, base, cold)
    return result


def main():
    import report
    host = inventory_host(setting("HOST", ""))
    runs = int(setting("RUNS", "7"))
    pairs = plan()
    print("bench: %s on %s, %d runs each" % (", ".join("%s/%s" % (a["name"], f) for a, f in pairs), host[0], runs))
    converge = None
    if setting("CONVERGE", "0") == "1":
        first = playbook(host, REPO / "playbooks" / "provision.yml", {})
        again = playbook(host, REPO / "playbooks" / "provision.yml", {})
        converge = {"first_seconds": first[0], "first_changed": first[1],
                    "rerun_seconds": again[0], "rerun_changed": again[1]}
    built = build(host, pairs)
    ssh(host, "mkdir -p %s && cat > %s/onhost.py" % (ONHOST_DIR, ONHOST_DIR), stdin=(BENCH / "onhost.py").read_text())
    spec = host_spec(pairs, runs)
    measured = json.loads(ssh(host, "python3 %s/onhost.py" % ONHOST_DIR, stdin=json.dumps(spec)))
    measured["samples"] += scale_to_zero_samples(host, pairs, runs)
    result = summarize(pairs, measured, built, converge, host, runs)
    result["scale_to_zero"] = scale_to_zero.summary(measured["samples"], "python-app")
    assert not stats.problems(result), stats.problems(result)
    out = BENCH / "results" / ("%s.json" % result["date"])
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    report.chart(result, out.with_suffix(".png"))
    print(report.markdown(result))
    print("bench: wrote %s and %s" % (out, out.with_suffix(".png")))


if __name__ == "__main__":
    main()
