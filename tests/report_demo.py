"""Print the demo's results side by side, and fail when the InstantOn start did not restore."""
import json
import sys

results = json.load(open(sys.argv[1]))
cold, instanton = results["cold_start_ms"], results["instanton_start_ms"]
print("\n  %-26s %8s" % ("start to first HTTP 200", "ms"))
print("  %-26s %8d" % ("cold start", cold))
ratio = 100.0 * instanton / cold
print("  %-26s %8d   (restored: %s, %.0f%% of cold)" % ("InstantOn restore", instanton, results["restored"], ratio))
if not results["restored"]:
    sys.exit("InstantOn container did not restore: %s" % results.get("fallback_reason"))
