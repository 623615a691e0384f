# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet view's files, written on the controller by playbooks/fleet.yml: fleet.json, fleet.md and fleet.png.

Reads {"generated": RFC 3339 time, "hosts": {host: fleet_info's result}} on stdin, writes into the directory given
as the only argument (made 0755 if missing), each file atomically, and prints what it wrote as JSON. Without
matplotlib it writes the JSON and the Markdown and says why there is no chart (the task does not fail)."""

import json
import os
import statistics
import sys
import tempfile

REPORT_KEYS = ("containers", "archives", "missing_dirs", "summary")


def fleet_document(generated, results):
    """The fleet: per host, what fleet_info found (or why it found nothing), and the totals."""
    hosts = {}
    for host, result in sorted(results.items()):
        if result.get("failed") or result.get("unreachable"):
            hosts[host] = {"error": result.get("msg") or "unreachable"}
        else:
            hosts[host] = dict((key, result[key]) for key in REPORT_KEYS)
    counted = [entry["summary"] for entry in hosts.values() if "summary" in entry]
    totals = dict((key, sum(summary[key] for summary in counted))
                  for key in ("containers", "restored", "cold", "archives", "signed", "archive_bytes"))
    return {"generated": generated, "hosts": hosts, "totals": totals}


def megabytes(value):
    return "-" if value is None else "%.1f" % (value / 1e6)


def duration(seconds):
    """A short age: 45s, 12m, 5h, 3d."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return "%d%s" % (seconds // size, unit)
    return "%ds" % seconds


def start_text(container):
    if container["restored"]:
        restore = container.get("criu_restore_ms")
        return "restored" + (" (%d ms)" % restore if restore is not None else "")
    return "cold" + (": %s" % container["fallback_reason"] if container.get("fallback_reason") else "")


def markdown(document, chart_note):
    """Per host: counts, then every container and every archive."""
    totals = document["totals"]
    lines = ["# InstantOn fleet, %s" % document["generated"], "",
             "%d containers (%d restored, %d cold), %d archives (%d signed, %s MB)." % (
                 totals["containers"], totals["restored"], totals["cold"], totals["archives"], totals["signed"],
                 megabytes(totals["archive_bytes"])), "", chart_note, "",
             "| host | containers | restored | cold | archives | signed | archive MB |", "|---|---|---|---|---|---|---|"]
    for host, entry in sorted(document["hosts"].items()):
        if "error" in entry:
            lines.append("| %s | not read: %s | | | | | |" % (host, " ".join(entry["error"].replace("|", "/").split())))
            continue
        summary = entry["summary"]
        lines.append("| %s | %d | %d | %d | %d | %d | %s |" % (
            host, summary["containers"], summary["restored"], summary["cold"], summary["archives"], summary["signed"],
            megabytes(summary["archive_bytes"])))
    lines += ["", "## Containers", "", "| host | name | image | state | start | age | memory MB |",
              "|---|---|---|---|---|---|---|"]
    lines += ["| %s | %s | %s | %s | %s | %s | %s |" % (
        host, c["name"], c["image"], c["state"], start_text(c).replace("|", "/"), duration(c["age_s"]),
        megabytes(c["memory_bytes"])) for host, c in rows(document, "containers")]
    lines += ["", "## Checkpoint archives", "", "| host | path | MB | age | signed |", "|---|---|---|---|---|"]
    lines += ["| %s | %s | %s | %s | %s |" % (
        host, a["path"], megabytes(a["size_bytes"]), duration(a["age_s"]), signature_text(a))
        for host, a in rows(document, "archives")]
    return "\n".join(lines) + "\n"


def signature_text(archive):
    if not archive["signed"]:
        return "no"
    if "verified" not in archive:
        return "yes"
    return "yes, verified" if archive["verified"] else "yes, does not verify (%s)" % archive["verify_failed"]


def rows(document, kind):
    """(host, entry) of every container or archive, host by host."""
    return [(host, entry) for host, found in sorted(document["hosts"].items()) for entry in found.get(kind, [])]


def chart_series(document):
    """Per host: archive sizes (MB) and restore times (CRIU's, ms, of restored containers that logged one)."""
    hosts = sorted(host for host, entry in document["hosts"].items() if "error" not in entry)
    sizes = dict((host, [a["size_bytes"] / 1e6 for a in document["hosts"][host]["archives"]]) for host in hosts)
    restores = dict((host, [c["criu_restore_ms"] for c in document["hosts"][host]["containers"]
                            if c["restored"] and c.get("criu_restore_ms") is not None]) for host in hosts)
    return hosts, sizes, restores


def draw(document, path, pyplot):
    """Two panels, one row per host: archive sizes and restore times (bar: median; dots: each one)."""
    hosts, sizes, restores = chart_series(document)
    figure, axes = pyplot.subplots(1, 2, figsize=(10, 0.5 * max(len(hosts), 1) + 1.8))
    for axis, series, label in ((axes[0], sizes, "checkpoint archive size, MB"),
                                (axes[1], restores, "CRIU restore time of restored containers, ms")):
        for row, host in enumerate(hosts):
            values = series[host]
            median = statistics.median(values) if values else 0
            axis.barh(row, median, color="#3182bd")
            axis.plot(values, [row] * len(values), "k.", markersize=5)
            axis.text(median, row, " %g (n=%d)" % (round(median, 2), len(values)), va="center", fontsize=8)
        axis.set_yticks(range(len(hosts)))
        axis.set_yticklabels(hosts, fontsize=8)
        axis.invert_yaxis()
        axis.set_xlabel(label + " (bar: median; dots: each)", fontsize=8)
    figure.suptitle("InstantOn fleet, %s" % document["generated"], fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)


def load_pyplot():
    """matplotlib's pyplot without a display, or (None, why)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError as error:
        return None, "no chart: matplotlib is not installed in the controller's Python %s (%s); " \
                     "pip install matplotlib there to get fleet.png" % (sys.executable, error)
    return pyplot, None


def write_atomic(path, write):
    """WRITE(temp path) into a temp file beside PATH, then rename it over PATH."""
    handle, temp = tempfile.mkstemp(prefix=".fleet-", suffix=os.path.splitext(path)[1], dir=os.path.dirname(path))
    os.close(handle)
    try:
        write(temp)
        os.chmod(temp, 0o644)
        os.rename(temp, path)
    except Exception:
        os.unlink(temp)
        raise


def write_text(text):
    def write(path):
        with open(path, "w") as handle:
            handle.write(text)
    return write


def write_report(document, directory, pyplot, missing_reason):
    """fleet.json, fleet.md and (with pyplot) fleet.png in DIRECTORY; what was written and why no chart."""
    os.makedirs(directory, mode=0o755, exist_ok=True)
    paths = dict((kind, os.path.join(directory, "fleet." + kind)) for kind in ("json", "md", "png"))
    chart_note = "Chart: fleet.png (archive sizes and restore times per host)." if pyplot else missing_reason
    write_atomic(paths["json"], write_text(json.dumps(document, indent=2, sort_keys=True) + "\n"))
    write_atomic(paths["md"], write_text(markdown(document, chart_note)))
    if pyplot:
        write_atomic(paths["png"], lambda temp: draw(document, temp, pyplot))
    return {"json": paths["json"], "md": paths["md"], "png": paths["png"] if pyplot else None,
            "no_chart_reason": missing_reason, "totals": document["totals"]}


def main():
    gathered = json.load(sys.stdin)
    pyplot, missing_reason = load_pyplot()
    document = fleet_document(gathered["generated"], gathered["hosts"])
    print(json.dumps(write_report(document, os.path.abspath(sys.argv[1]), pyplot, missing_reason)))


if __name__ == "__main__":
    main()
