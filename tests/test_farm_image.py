"""farm.image without a real build: cache keys, errors, finding a cached image."""

import gzip
import io
import json
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

import farm.image as fi
from farm.errors import FarmError
from hv.errors import HvError


@pytest.fixture
def cache(tmp_path, monkeypatch):
    path = tmp_path / "cache"
    monkeypatch.setenv("FARM_CACHE", str(path))
    return path


@pytest.fixture
def recipe(tmp_path, monkeypatch):
    """A copy of images/node/ that a test may edit."""
    path = tmp_path / "recipe"
    shutil.copytree(fi.source_root() / "images" / "node", path)
    monkeypatch.setattr(fi, "_recipe_dir", lambda: path)
    return path


def quiet():
    return Console(file=io.StringIO(), width=200)


def fake_image(cache, key):
    """What a finished build leaves in the cache, without building."""
    keys = cache / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    for name in ("id_ed25519", "ssh_host_ed25519_key"):
        (keys / name).write_text("private\n")
    (keys / "id_ed25519.pub").write_text("ssh-ed25519 AAAAclient farm-client\n")
    (keys / "ssh_host_ed25519_key.pub").write_text("ssh-ed25519 AAAAhost farm-node\n")
    key = key()                             # the public keys are part of it
    image = cache / "images" / key
    image.mkdir(parents=True)
    for name in ("vmlinuz", "initrd.img", "node.raw"):
        (image / name).write_bytes(b"x")
    (image / "image.json").write_text(json.dumps({
        "key": key, "hv_version": "0.1.0", "wheel_sha256": "ab" * 32,
        "host_key": "ssh-ed25519 AAAAhost", "python": fi.NODE_PYTHON, "append": fi.APPEND}))
    return image


def test_errors_are_hv_errors():
    assert issubclass(FarmError, HvError)
    assert fi.ImageError is FarmError


def test_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("FARM_CACHE", str(tmp_path / "c"))
    assert fi.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("FARM_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert fi.cache_dir() == tmp_path / ".cache" / "hv-farm"


def test_key_is_stable(cache, recipe):
    assert fi.image_key() == fi.image_key()
    assert len(fi.image_key()) == 24


def test_key_changes_with_a_recipe_file(cache, recipe):
    before = fi.image_key()
    with open(recipe / "packages.txt", "a") as f:
        f.write("strace\n")
    assert fi.image_key() != before


def test_key_changes_with_farm_init_but_not_with_docs(cache, recipe):
    before = fi.image_key()
    (recipe / "README.md").write_text("edited\n")
    assert fi.image_key() == before
    with open(recipe / "farm-init", "a") as f:
        f.write("# edited\n")
    assert fi.image_key() != before


def test_key_changes_with_hv_version(cache, recipe, monkeypatch):
    before = fi.image_key()
    monkeypatch.setattr(fi, "_hv_version", lambda: "9.9.9")
    assert fi.image_key() != before


def test_key_pins_the_controllers_versions(cache, recipe, monkeypatch):
    before = fi.image_key()
    assert any(p.startswith("pytest-xdist==") for p in fi._requirements())
    real = fi.metadata.version
    monkeypatch.setattr(fi.metadata, "version",
                        lambda name: "0.0.1" if name == "execnet" else real(name))
    assert "execnet==0.0.1" in fi._requirements()
    assert fi.image_key() != before


def test_key_changes_with_the_farm_keys(cache, recipe):
    before = fi.image_key()
    fake_image(cache, fi.image_key)
    assert fi.image_key() != before


def test_find_image_on_an_empty_cache(cache, recipe):
    assert fi.find_image() is None
    assert not cache.exists() or not any(cache.iterdir())   # and it created nothing


def test_find_image_returns_the_cached_image(cache, recipe, monkeypatch):
    image_dir = fake_image(cache, fi.image_key)
    image = fi.find_image()
    assert image is not None
    assert image.disk == image_dir / "node.raw"
    assert image.kernel == image_dir / "vmlinuz" and image.initrd == image_dir / "initrd.img"
    assert image.key == cache / "keys" / "id_ed25519"
    assert image.host_key == "ssh-ed25519 AAAAhost"
    assert image.python == "/opt/farm/bin/python"
    assert image.key_hash == image_dir.name
    # a cached image needs neither root nor a build
    monkeypatch.setattr(fi.os, "geteuid", lambda: 1000)
    assert fi.ensure_image(console=quiet()) == image
    # another hv version is another image
    monkeypatch.setattr(fi, "_hv_version", lambda: "9.9.9")
    assert fi.find_image() is None


def test_building_needs_root(cache, recipe, monkeypatch):
    monkeypatch.setattr(fi.os, "geteuid", lambda: 1000)
    with pytest.raises(FarmError) as info:
        fi.ensure_image(console=quiet())
    message = str(info.value)
    assert "needs root" in message and "debootstrap" in message and "\n" not in message
    with pytest.raises(FarmError, match="needs root"):
        fi.build_hv_wheel(console=quiet())


@pytest.mark.parametrize("tool, package", [("debootstrap", "debootstrap"),
                                           ("mkfs.ext4", "e2fsprogs"),
                                           ("linux32", "util-linux"),
                                           ("ssh-keygen", "openssh-client")])
def test_a_missing_tool_names_its_debian_package(cache, recipe, monkeypatch, tool, package):
    monkeypatch.setattr(fi.os, "geteuid", lambda: 0)
    real = fi.shutil.which
    monkeypatch.setattr(fi.shutil, "which",
                        lambda name, path=None: None if name == tool else real(name, path=path))
    with pytest.raises(FarmError) as info:
        fi.ensure_image(console=quiet())
    message = str(info.value)
    assert f"needs {tool}" in message and f"apt-get install {package}" in message
    assert "\n" not in message


def test_not_a_checkout(monkeypatch, tmp_path):
    monkeypatch.setattr(fi.hv, "__file__", str(tmp_path / "site-packages" / "hv" / "__init__.py"))
    monkeypatch.delenv("HV_SOURCE", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FarmError, match="needs an hv source checkout.*set HV_SOURCE"):
        fi.source_root()


def test_a_plain_install_finds_the_checkout_it_runs_from(monkeypatch, tmp_path):
    checkout = Path(__file__).resolve().parent.parent
    monkeypatch.setattr(fi.hv, "__file__", str(tmp_path / "site-packages" / "hv" / "__init__.py"))
    monkeypatch.delenv("HV_SOURCE", raising=False)
    monkeypatch.chdir(checkout)
    assert fi.source_root() == checkout
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HV_SOURCE", str(checkout))
    assert fi.source_root() == checkout


def test_a_failed_step_names_the_step_and_the_log(cache):
    with fi._Build(quiet(), "test") as b:
        with b.step("make it"):
            b.run(["true"])
        with pytest.raises(FarmError) as info:
            with b.step("break it"):
                b.run(["sh", "-c", "echo something broke; exit 3"])
    message = str(info.value)
    assert message.startswith("node image: step 'break it' failed (sh exited with status 3)")
    assert str(b.log_path) in message and "\n" not in message
    assert b.log_path.parent == cache / "logs"
    log = b.log_path.read_text()
    assert "something broke" in log and "step done" in log


def test_a_retried_command(cache, tmp_path, monkeypatch):
    flag = tmp_path / "flag"
    monkeypatch.setattr(fi.time, "sleep", lambda seconds: None)
    with fi._Build(quiet(), "test") as b, b.step("flaky"):
        b.run(["sh", "-c", f"[ -e {flag} ] || {{ touch {flag}; exit 1; }}"], tries=2)
    assert b.log_path.read_text().count("# exit status 1") == 1


def test_wheel_sources_are_only_what_the_wheel_is_made_of():
    files = fi._source_files(fi.source_root())
    assert "pyproject.toml" in files and "setup.py" in files
    assert "hv/native/module.c" in files and "farm/image.py" in files
    assert "images/sdk/link.ld" in files
    assert not [f for f in files if f.startswith(("tests/", "docs/", "bench/", "images/node"))]
    assert not [f for f in files if f.endswith((".so", ".pyc"))]


def test_initrd_cpio_is_newc():
    data = fi._cpio_newc([("bin", stat.S_IFDIR | 0o755, b"", 0, 0),
                          ("dev/console", stat.S_IFCHR | 0o600, b"", 5, 1),
                          ("init", stat.S_IFREG | 0o755, b"#!/bin/sh\n", 0, 0)])
    names, pos = [], 0
    while True:
        assert data[pos:pos + 6] == b"070701"
        fields = [int(data[pos + 6 + 8 * i:pos + 14 + 8 * i], 16) for i in range(13)]
        size, namesize = fields[6], fields[11]
        name = data[pos + 110:pos + 110 + namesize - 1].decode()
        pos += 110 + namesize
        pos += -pos % 4
        body = data[pos:pos + size]
        pos += size + (-size % 4)
        if name == "TRAILER!!!":
            break
        names.append((name, fields[1], body, fields[9], fields[10]))
    assert pos == len(data)
    assert names[1] == ("dev/console", stat.S_IFCHR | 0o600, b"", 5, 1)
    assert names[2][2] == b"#!/bin/sh\n"
    assert gzip.decompress(gzip.compress(data, mtime=0)) == data


def test_the_cache_lock_is_exclusive_and_reentrant(cache):
    probe = ("import fcntl, sys\n"
             "f = open(sys.argv[1])\n"
             "try:\n"
             "    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
             "except BlockingIOError:\n"
             "    sys.exit(3)\n")

    def other_process_can_lock():
        return subprocess.run([sys.executable, "-c", probe, str(cache / "lock")]).returncode == 0

    with fi._locked(None):
        with fi._locked(None):              # a nested build step takes it again
            assert not other_process_can_lock()
        assert not other_process_can_lock()
    assert other_process_can_lock()
