#!/usr/bin/env bash
# STAND-IN for Open Liberty's `server` script (not Open Liberty): the same InstantOn
# contract and message IDs, around a tiny Java HTTP server (samples/jvm-app's jar).
#   server run defaultServer                   restore the checkpoint if there is one, else start cold
#   server checkpoint defaultServer --at=PHASE checkpoint at PHASE (beforeAppStart|afterAppStart)
#   WLP_CHECKPOINT=PHASE with `run`            the same as `checkpoint` (the podman run + commit flow)
set -uo pipefail
server_dir=/opt/ol/wlp/output/defaultServer
checkpoint_dir=$server_dir/workarea/checkpoint
images=$checkpoint_dir/image
log_dir=/logs/checkpoint
# The app waits for this file before it starts (beforeAppStart checkpoints the JVM there).
gate=$server_dir/workarea/app-gate
app=(java -XX:-UsePerfData -Xmx512m -Dapp.port=9080 -Dapp.gate="$gate" -jar /opt/ol/wlp/usr/servers/defaultServer/app.jar)

audit() { echo "[AUDIT   ] $*"; }

# Stay PID 1 (the app never is): forward stop signals, live as long as the app does.
supervise() {
  local pid=$1
  trap 'kill -TERM "$pid" 2>/dev/null' TERM INT
  while kill -0 "$pid" 2>/dev/null; do sleep 0.2 & wait $!; done
  exit 0
}

cold_start() {
  mkdir -p "$(dirname "$gate")" && touch "$gate"
  "${app[@]}" &
  supervise $!
}

checkpoint() {
  local phase=$1 ready log pid
  case "$phase" in
    beforeAppStart) ready="JVM started, waiting for" ;;
    afterAppStart) ready="jvmapp: ready" ;;
    features) echo "CWWKC0455E: The checkpoint phase features was removed in 23.0.0.2-beta; use beforeAppStart or afterAppStart." >&2; exit 1 ;;
    *) echo "CWWKC0455E: Unknown checkpoint phase '$phase'; use beforeAppStart or afterAppStart." >&2; exit 1 ;;
  esac
  # A fresh container gives the low PIDs to its first processes; restore needs the app's free.
  for i in $(seq 300); do /bin/true; done
  rm -f "$gate"
  mkdir -p "$images" "$log_dir" && chmod 0700 "$checkpoint_dir" "$images" "$log_dir"
  log=$log_dir/checkpoint-app.log
  # One pipe for the app's output: restore re-attaches it to the container's stdout.
  exec 3> >(exec tee "$log")
  [ "$phase" = afterAppStart ] && touch "$gate"
  # Drop what only CRIU needs: a restored process cannot regain capabilities.
  setsid setpriv --bounding-set -checkpoint_restore,-sys_ptrace,-setpcap -- "${app[@]}" >&3 2>&3 </dev/null &
  pid=$!
  until grep -q "$ready" "$log" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || { echo "CWWKC0453E: The server checkpoint request failed: the server stopped before $phase." >&2; exit 1; }
    sleep 0.1
  done
  sleep 1
  audit "CWWKC0451I: A server checkpoint \"$phase\" was requested. When the checkpoint completes, the server stops."
  readlink "/proc/$pid/fd/1" > "$checkpoint_dir/stdout-pipe"
  if ! criu dump --tree "$pid" --images-dir "$images" --unprivileged --network-lock skip --tcp-close \
       --file-locks --log-file "$log_dir/checkpoint.log" -v4; then
    echo "CWWKC0453E: The server checkpoint request failed: $(grep -E 'Error' "$log_dir/checkpoint.log" | tail -n 2 | tr '\n' ' ')" >&2
    exit 1
  fi
  chmod 0600 "$images"/* "$checkpoint_dir/stdout-pipe"
  rm -f "$log_dir/checkpoint.log" "$gate"
  exit 0
}

restore() {
  local started pid seconds
  started=$(date +%s%N)
  touch "$gate"
  if criu restore --images-dir "$images" --unprivileged --tcp-close --file-locks --restore-detached \
       --pidfile /run/server.pid --inherit-fd "fd[1]:$(cat "$checkpoint_dir/stdout-pipe")" \
       --log-file "$log_dir/restore.log" -v4 2>>"$log_dir/restore.log"; then
    pid=$(cat /run/server.pid)
    seconds=$(( ($(date +%s%N) - started) / 1000000 ))
    audit "CWWKC0452I: The Liberty server process resumed operation from a checkpoint in $((seconds / 1000)).$(printf %03d $((seconds % 1000))) seconds."
    supervise "$pid"
  fi
  if [ "${CRIU_RESTORE_DISABLE_RECOVERY:-false}" = true ]; then
    echo "CWWKE0958E: Restoring the checkpoint server process failed and CRIU_RESTORE_DISABLE_RECOVERY=true: $(grep -E 'Error' "$log_dir/restore.log" | tail -n 2 | tr '\n' ' ')" >&2
    exit 1
  fi
  echo "CWWKE0957I: Restoring the checkpoint server process failed. Check the $log_dir/restore.log log to determine why the checkpoint process was not restored. Launching the server without using the checkpoint image."
  cold_start
}

case "${1:-run}" in
  checkpoint) checkpoint "${3#--at=}" ;;
  run)
    [ -n "${WLP_CHECKPOINT:-}" ] && checkpoint "$WLP_CHECKPOINT"
    mkdir -p "$log_dir"
    [ -s "$images/inventory.img" ] && restore
    cold_start ;;
  *) echo "usage: server run|checkpoint defaultServer [--at=PHASE]" >&2; exit 2 ;;
esac
