"""Direct copy: the authorized_keys line that lets one move's key write its archive and nothing else."""
import subprocess

from ansible_collections.instanton.platform.plugins.module_utils.migration import _direct_copy as direct

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ"


def test_the_key_is_restricted_to_the_source_address_and_one_forced_command():
    line = direct.authorized_line(KEY, "172.31.213.11", "/var/lib/instanton/migration", "shop")
    assert line.startswith('restrict,from="172.31.213.11",command="')
    assert line.endswith(" %s instanton-migration:shop" % KEY)
    # sshd unquotes \" only: the command has no bare double quote inside its value.
    command = line.split('command="', 1)[1].rsplit('" ' + KEY, 1)[0]
    assert '"' not in command.replace('\\"', "")


def test_the_forced_command_writes_only_the_moves_archives(tmp_path):
    command = direct.forced_command(str(tmp_path), "shop")
    for kind in ("checkpoint", "image"):
        done = subprocess.run(["sh", "-c", command], input=b"data-" + kind.encode(), env={"SSH_ORIGINAL_COMMAND": kind},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        assert done.returncode == 0
        written = tmp_path / ("shop.%s.tar" % kind)
        assert written.read_bytes() == b"data-" + kind.encode() and oct(written.stat().st_mode & 0o777) == "0o600"
    for other in ("cat /etc/shadow", "checkpoint; id", "../x", ""):
        done = subprocess.run(["sh", "-c", command], input=b"x", env={"SSH_ORIGINAL_COMMAND": other},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        assert done.returncode != 0, other
    assert sorted(path.name for path in tmp_path.iterdir()) == ["shop.checkpoint.tar", "shop.image.tar"]


def test_only_this_moves_line_is_removed():
    lines = ["ssh-ed25519 AAAA lab", "x " + KEY + " instanton-migration:shop", "y " + KEY + " instanton-migration:shop2"]
    assert direct.without_marked(lines, "shop") == [lines[0], lines[2]]


def test_known_hosts_and_ssh_arguments_accept_only_the_reported_host_key():
    lines = direct.known_hosts_lines("10.0.0.2", 22, ["ssh-ed25519 AAAAkey root@lab2", "garbage"])
    assert lines == ["10.0.0.2 ssh-ed25519 AAAAkey"]
    assert direct.known_hosts_lines("10.0.0.2", 2222, ["ssh-ed25519 AAAAkey"]) == ["[10.0.0.2]:2222 ssh-ed25519 AAAAkey"]
    args = direct.ssh_arguments("ssh", "/m/k", "/m/kh", "10.0.0.2", 22, "checkpoint")
    assert "StrictHostKeyChecking=yes" in args and "UserKnownHostsFile=/m/kh" in args and args[-2:] == [
        "root@10.0.0.2", "checkpoint"]


def test_unsafe_directories_and_addresses_are_refused():
    assert direct.directory_problem("/var/lib/instanton/migration") is None
    for bad in ("relative", "/a b", "/a;rm", "/a/../b", '/a"b'):
        assert direct.directory_problem(bad), bad
    assert direct.address_problem("10.0.0.2", "a") is None and direct.address_problem("a b", "a")
