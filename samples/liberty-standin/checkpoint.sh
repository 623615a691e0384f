#!/bin/sh
# STAND-IN for Open Liberty's checkpoint.sh (not Open Liberty): `RUN checkpoint.sh <phase>`
# in a Containerfile starts the server, checkpoints it at <phase> and stops it.
exec /opt/ol/wlp/bin/server checkpoint defaultServer --at="${1:-}"
