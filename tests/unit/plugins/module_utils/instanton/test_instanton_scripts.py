"""The generic flavor's scripts and rendered config: the contract the modules rely on."""
import subprocess

from ansible_collections.instanton.platform.plugins.module_utils.instanton import _instanton_scripts as scripts

READINESS = {"type": "http", "port": 8080, "path": "/", "timeout": 60}


def sourced(config, *names):
    """The values bash sees after sourcing the config: one line per array element."""
    script = config + "".join('printf "%%s\\n" "${%s[@]}"; echo --;' % name for name in names)
    return subprocess.run(["bash", "-c", script], stdout=subprocess.PIPE, check=True,
                          universal_newlines=True).stdout.split("--\n")[:-1]


def test_config_quotes_the_command_for_bash():
    config = scripts.render_config(["python3", "-c", "print('a b')"], READINESS)
    assert sourced(config, "APP_COMMAND") == ["python3\n-c\nprint('a b')\n"]
    assert "READY_TYPE=http\nREADY_PORT=8080\nREADY_PATH=/\n" in config
    assert config.endswith("READY_TIMEOUT=60\n")


def test_pre_checkpoint_is_empty_unless_given():
    assert "PRE_CHECKPOINT=()\n" in scripts.render_config(["app"], READINESS)
    config = scripts.render_config(["app"], READINESS, ["sh", "-c", 'jcmd "$APP_PID" GC.run'])
    assert sourced(config, "PRE_CHECKPOINT") == ['sh\n-c\njcmd "$APP_PID" GC.run\n']


def test_checkpoint_runs_the_hook_with_the_app_pid_before_the_dump():
    text = scripts.CHECKPOINT_SCRIPT
    assert text.index('APP_PID=$pid "${PRE_CHECKPOINT[@]}"') < text.index("criu dump")
    assert 'chmod 0700 /instanton "$dir"' in text and 'chmod 0600 "$dir"/*' in text


def test_entrypoint_keeps_its_markers_and_switches():
    text = scripts.ENTRYPOINT_SCRIPT
    assert 'echo "%s pid $pid in' % scripts.RESTORED_MARKER in text
    assert 'echo "%s $*"' % scripts.COLD_START_MARKER in text
    assert "INSTANTON_REQUIRE_RESTORE" in text and "INSTANTON_DISABLE_RESTORE" in text


def test_restore_logs_errors_only():
    restore = scripts.ENTRYPOINT_SCRIPT.split("criu restore", 1)[1].split("; then", 1)[0]
    assert '--log-file "$restore_log" -v1' in restore and "-v4" not in restore


def test_scripts_parse_as_bash():
    for text in (scripts.CHECKPOINT_SCRIPT, scripts.ENTRYPOINT_SCRIPT):
        subprocess.run(["bash", "-n"], input=text, universal_newlines=True, check=True)
