"""The bench's chart (PNG) and Markdown table, from a result document."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def fmt(summary):
    if not summary:
        return "-"
    return "%g (%g-%g)" % (summary["median"], summary["min"], summary["max"])


def markdown(result):
    """Per app and flavor: cold and InstantOn medians (min-max), ratio, CRIU's restore time."""
    lines = ["| app | flavor | cold ms | InstantOn ms | ratio (goal) | CRIU restore ms | restore step ms | fallbacks |",
             "|---|---|---|---|---|---|---|---|"]
    for app, flavors in sorted(result["apps"].items()):
        for flavor, entry in sorted(flavors.items()):
            lines.append("| %s | %s | %s | %s | %s (%s) | %s | %s | %d |" % (
                app, flavor, fmt(entry["cold"]["first_answer_ms"]), fmt(entry["instanton"]["first_answer_ms"]),
                entry["ratio"], entry["goal_ratio"], fmt(entry["instanton"]["criu_restore_ms"]),
                fmt(entry["instanton"]["restore_step_ms"]), entry["instanton"]["cold_fallbacks"]))
    extra = [(label, v) for label, v in sorted(result["variants"].items()) if " " in label]
    if extra:
        lines += ["", "| start path or experiment | first answer ms | vs `podman run` | vs cold | CRIU restore ms |",
                  "|---|---|---|---|---|"]
        lines += ["| %s | %s | %s | %s | %s |" % (label, fmt(v["first_answer_ms"]), v.get("vs_baseline"),
                                                 v.get("vs_cold"), fmt(v["criu_restore_ms"])) for label, v in extra]
    lines += scale_to_zero_lines(result.get("scale_to_zero"))
    return "\n".join(lines)


def scale_to_zero_lines(found):
    """First request after scale to zero (through the held port) beside the fast path; memory held and given back."""
    if not found:
        return []
    lines = ["", "| first request after scale to zero | ms | vs fast path (%s: %s ms) | restored | RSS kB before idle | after |"
             % (found["fast_path"], fmt(found["fast_path_ms"])), "|---|---|---|---|---|---|"]
    for label, entry in sorted((k, v) for k, v in found.items() if k not in ("fast_path", "fast_path_ms")):
        lines.append("| %s | %s | %s | %d/%d | %s | %s |" % (
            label, fmt(entry["first_request_ms"]), entry["vs_fast_path"], entry["restored"], entry["n"],
            fmt(entry["rss_kb_before_idle"]), fmt(entry["rss_kb_after_idle"])))
    return lines


def chart(result, path):
    """Every variant's starts: median bar, each sample a dot, on one log-free ms axis."""
    labels = sorted(result["variants"], key=lambda label: (label.split("/")[0], " " in label, label))
    samples = result["samples"]
    fig, axis = plt.subplots(figsize=(9, 0.45 * len(labels) + 1.5))
    for row, label in enumerate(labels):
        values = [s["ms"] for s in samples if s["label"] == label and s.get("ok")]
        median = (result["variants"][label]["first_answer_ms"] or {}).get("median", 0)
        axis.barh(row, median, color="#9ecae1" if "cold" in label else "#3182bd")
        axis.plot(values, [row] * len(values), "k.", markersize=4)
        axis.text(median, row, " %g" % median, va="center", fontsize=8,
                  bbox={"facecolor": "white", "edgecolor": "none", "pad": 1})
    axis.set_yticks(range(len(labels)), labels, fontsize=8)
    axis.invert_yaxis()
    axis.set_xlabel("ms from the run command to the first correct HTTP answer (bar: median; dots: runs)")
    axis.set_title("InstantOn vs cold start on %s, %s (%d runs each)" % (
        result["host"]["name"], result["date"], result["runs"]), fontsize=10)
    fig.tight_layout()
    fig.savefig(str(path), dpi=110)
    plt.close(fig)
