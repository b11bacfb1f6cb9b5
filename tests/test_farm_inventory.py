"""farm.toml parsing and the jinja2 templates built from it (no nodes needed)."""

import os
import shlex
from pathlib import Path
from types import SimpleNamespace

import pytest

from farm.inventory import InventoryError, QemuNode, SshHost, load_inventory, parse_inventory
from farm.render import SshEntry, qemu_args, ssh_config


def test_embedded_default_is_two_local_qemu_nodes():
    inv = load_inventory(None)
    assert inv.source == "<embedded default>"
    assert inv.nodes == (QemuNode("node-1", 512), QemuNode("node-2", 512))


def test_qemu_and_ssh_tables(tmp_path):
    path = tmp_path / "farm.toml"
    path.write_text('[[qemu]]\nname = "tcg"\ncount = 3\nmemory_mib = 256\n\n'
                    '[[ssh]]\nname = "box"\nhost = "10.0.0.5"\nport = 2222\n'
                    'key = "~/.ssh/farm"\npython = "/opt/venv/bin/python"\n'
                    'known_hosts = "ci/known_hosts"\n')
    inv = load_inventory(path)
    assert [n.name for n in inv.qemu_nodes] == ["tcg-1", "tcg-2", "tcg-3"]
    assert {n.memory_mib for n in inv.qemu_nodes} == {256}
    assert inv.ssh_hosts == (SshHost("box", "10.0.0.5", 2222, "root", "~/.ssh/farm",
                                     "/opt/venv/bin/python", "ci/known_hosts"),)


@pytest.mark.parametrize("text, message", [
    ('[[qemu]]\ncout = 2\n', "farm.toml: [[qemu]] #1: unknown key 'cout' (known: count, image, "
                             "memory_mib, name)"),
    ('[[qemu]]\ncount = "2"\n', "farm.toml: [[qemu]] #1: count must be int, not str"),
    ('[[qemu]]\ncount = 0\n', "farm.toml: [[qemu]] #1: count must be between 1 and 64, not 0"),
    ('[[qemu]]\nmemory_mib = 64\n', "farm.toml: [[qemu]] #1: memory_mib must be between 128 "
                                     "and 4096, not 64"),
    ('[[ssh]]\nname = "a"\n', "farm.toml: [[ssh]] #1: missing key 'host'"),
    ('[[ssh]]\nname = "a"\nhost = "h"\nport = 70000\n',
     "farm.toml: [[ssh]] #1: port must be between 1 and 65535, not 70000"),
    ('[[ssh]]\nname = "a"\nhost = "h"\nport = true\n',
     "farm.toml: [[ssh]] #1: port must be int, not bool"),
    ('[nodes]\nx = 1\n', "farm.toml: unknown table 'nodes' (known: [[qemu]], [[ssh]])"),
    ('qemu = 3\n', "farm.toml: 'qemu' must be an array of tables ([[qemu]])"),
    ('', "farm.toml: no nodes (add a [[qemu]] or [[ssh]] table)"),
    ('[[qemu]]\nname = "n"\n[[ssh]]\nname = "n-1"\nhost = "h"\n',
     "farm.toml: node name 'n-1' is used more than once"),
    ('[[qemu]\n', "farm.toml: not valid TOML"),
])
def test_mistakes_are_one_line_naming_the_key(text, message):
    with pytest.raises(InventoryError) as info:
        parse_inventory(text, "farm.toml")
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_unreadable_file_names_it(tmp_path):
    with pytest.raises(InventoryError, match=r"nope\.toml: cannot read: No such file"):
        load_inventory(tmp_path / "nope.toml")


def test_qemu_command_line(tmp_path):
    node = QemuNode("node-1", 384)
    image = SimpleNamespace(kernel=Path("/img/vmlinuz"), initrd=Path("/img/initrd.img"),
                            disk=Path("/img/disk.raw"), append="root=/dev/vda rw quiet")
    args = qemu_args(node, image, 40022, tmp_path)
    text = shlex.join(args)
    assert args[0] == "qemu-system-i386"
    for fragment in ("-M pc", "-m 384", "-accel tcg", "-kernel /img/vmlinuz",
                     "-initrd /img/initrd.img",
                     "file=/img/disk.raw,if=virtio,format=raw,snapshot=on",
                     "hostfwd=tcp:127.0.0.1:40022-:22",
                     f"-serial file:{tmp_path}/node-1.console.log",
                     f"-qmp unix:{tmp_path}/node-1.qmp,server=on,wait=off"):
        assert fragment in text
    # the node learns its name from the kernel command line (its hostname)
    assert args[args.index("-append") + 1] == "root=/dev/vda rw quiet farm.name=node-1"
    assert "-incoming" not in args


def test_qemu_command_line_from_a_node_snapshot(tmp_path):
    from farm.render import Disk
    node = QemuNode("node-2", 256)
    image = SimpleNamespace(kernel=Path("/img/vmlinuz"), initrd=Path("/img/initrd.img"),
                            disk=Path("/img/disk.raw"), append="root=/dev/vda rw quiet")
    args = qemu_args(node, image, 40023, tmp_path, accel="kvm",
                     disk=Disk(Path("/snap/disk.qcow2"), "qcow2"), boot_name="farm-snapshot",
                     incoming="exec:cat /snap/vmstate")
    text = shlex.join(args)
    assert "-accel kvm" in text
    assert "file=/snap/disk.qcow2,if=virtio,format=qcow2,snapshot=on" in text
    # The saved machine's own command line; the node is renamed once it runs.
    assert args[args.index("-append") + 1] == "root=/dev/vda rw quiet farm.name=farm-snapshot"
    assert args[-2:] == ["-incoming", "exec:cat /snap/vmstate"]
    assert f"-qmp unix:{tmp_path}/node-2.qmp,server=on,wait=off" in text


def test_ssh_config_entries():
    text = ssh_config([SshEntry("node-1", "127.0.0.1", 40022, "root", "/k/id", "/run/kh",
                                farm_owned=True),
                       SshEntry("box", "10.0.0.5", 22, "ci", None, None),
                       SshEntry("host", "10.0.0.6", 22, "ci", None, "/ci/known_hosts")])
    blocks = text.split("Host ")[1:]
    assert blocks[0].startswith("node-1\n") and "Port 40022" in blocks[0]
    assert "IdentityFile /k/id" in blocks[0] and "StrictHostKeyChecking yes" in blocks[0]
    assert "UserKnownHostsFile /run/kh" in blocks[0]
    assert blocks[1].startswith("box\n") and "User ci" in blocks[1]
    assert "IdentityFile" not in blocks[1] and "StrictHostKeyChecking" not in blocks[1]
    # An SSH host's own known_hosts: checked strictly, with ssh's own algorithms.
    assert "UserKnownHostsFile /ci/known_hosts\n    StrictHostKeyChecking yes" in blocks[2]
    assert "KexAlgorithms" not in blocks[2] and "KexAlgorithms" in blocks[0]


def test_ssh_config_names_a_control_socket_short_enough(tmp_path):
    from farm import mux
    from farm.state import RunDir
    text = ssh_config([SshEntry("node-1", "127.0.0.1", 40022, "root", None, None)],
                      control_path="/r/ssh/%C")
    assert "    ControlPath /r/ssh/%C\n" in text
    assert "ControlMaster" not in text     # only farm run starts masters
    assert mux.control_path(RunDir("/r/run")) == "/r/run/ssh/%C"
    deep = tmp_path / ("d" * 80)
    path = mux.control_path(RunDir(deep))
    assert path.endswith(f"/farm-ssh-{os.getuid()}/%C")
    assert len(path) - 2 + 40 + 17 <= 107


def test_two_ssh_entries_for_one_address_are_refused():
    text = ('[[ssh]]\nname = "a"\nhost = "10.0.0.5"\n'
            '[[ssh]]\nname = "b"\nhost = "10.0.0.5"\nport = 22\n')
    with pytest.raises(InventoryError, match=r"f\.toml: \[\[ssh\]\] 'b' is the same "
                                             r"root@10\.0\.0\.5:22 as 'a'"):
        parse_inventory(text, "f.toml")
