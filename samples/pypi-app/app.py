"""A small WSGI service (Flask from PyPI) served by gunicorn from PyPI. `boot` is drawn when the
app is loaded (gunicorn --preload: once, in the master) and `hits` counts answers: a restored
process carries on both."""
import itertools
import secrets

from flask import Flask

BOOT = secrets.token_hex(8)
HITS = itertools.count(1)
app = Flask(__name__)
print("pypi-app: boot %s" % BOOT, flush=True)


@app.get("/")
def index():
    return {"app": "gunicorn", "boot": BOOT, "hits": next(HITS)}
