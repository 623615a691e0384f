"""A small HTTP service whose start-up does real work: imports pandas and numpy,
builds a 200,000-row frame and summarises it before it answers."""
import time

STARTED = time.time()

import numpy as np  # noqa: E402  (timed on purpose: imports are part of the start-up)
import pandas as pd  # noqa: E402
from flask import Flask  # noqa: E402

FRAME = pd.DataFrame(np.random.default_rng(7).normal(size=(200_000, 8)), columns=list("abcdefgh"))
SUMMARY = FRAME.describe()
COUNTER = {"requests": 0}
app = Flask(__name__)


@app.get("/")
def index():
    return {"status": "ok", "rows": int(len(FRAME)), "mean_a": round(float(SUMMARY.loc["mean", "a"]), 6)}


@app.get("/count")
def count():
    """In-memory state: goes on across a checkpoint and restore, starts again after a cold start."""
    COUNTER["requests"] += 1
    return {"count": COUNTER["requests"]}


@app.get("/healthz")
def healthz():
    return "ok\n"


if __name__ == "__main__":
    print("pyapp: warm-up done in %.2fs" % (time.time() - STARTED), flush=True)
    app.run(host="0.0.0.0", port=8080)
