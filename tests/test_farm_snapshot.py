"""farm.snapshot's decisions, without QEMU: which accelerator, which cached
snapshot, what a restored node is told.  Building and restoring real node
snapshots is tested with real QEMU in test_farm_e2e.py."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from test_farm_remote import (
    FakeConnection,
    fake_channel,  # noqa: F401 - autouse: remote.send to the fakes
    ok,
)

from farm import snapshot


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FARM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(snapshot, "qemu_version", lambda: "QEMU emulator version 7.2.22")
    return tmp_path / "cache"


IMAGE = SimpleNamespace(key_hash="img1", append="root=/dev/vda", wheel_sha256="w0")


def _fake_kvm(monkeypatch, present: bool, rw: bool = True) -> None:
    monkeypatch.setattr(snapshot.os.path, "exists",
                        lambda p: present if p == "/dev/kvm" else Path(p).exists())
    monkeypatch.setattr(snapshot.os, "access",
                        lambda p, mode: rw if p == "/dev/kvm" else True)


def test_kvm_is_tried_first_then_remembered_unusable(cache, monkeypatch):
    _fake_kvm(monkeypatch, present=True)
    assert snapshot.kvm_status() == (True, "")
    assert snapshot._accels() == ["kvm", "tcg"]
    assert snapshot.cold_accel() == "tcg"           # not known to work yet
    snapshot._kvm_marker().parent.mkdir(parents=True)
    snapshot._kvm_marker().write_text(json.dumps({"usable": False,
                                                  "why": "KVM internal error"}))
    assert snapshot.kvm_status() == (False, "KVM internal error")
    assert snapshot._accels() == ["tcg"]
    snapshot._kvm_marker().write_text(json.dumps({"usable": True, "why": ""}))
    assert snapshot.cold_accel() == "kvm"


def test_no_kvm_device_means_tcg(cache, monkeypatch):
    _fake_kvm(monkeypatch, present=False)
    assert snapshot.kvm_status() == (False, "no /dev/kvm")
    assert snapshot._accels() == ["tcg"]
    _fake_kvm(monkeypatch, present=True, rw=False)
    assert snapshot.kvm_status()[0] is False


def test_a_snapshot_is_found_only_for_its_image_memory_and_wheel(cache, monkeypatch):
    _fake_kvm(monkeypatch, present=False)
    assert snapshot.find(IMAGE, 512) is None
    path = cache / "snapshots" / snapshot._key(IMAGE, 512, "tcg", "w1")
    path.mkdir(parents=True)
    for name in ("disk.qcow2", "vmstate"):
        (path / name).write_bytes(b"x")
    (path / "snapshot.json").write_text(json.dumps({"version": snapshot._VERSION,
                                                    "wheel_sha256": "w1"}))
    found = snapshot.find(IMAGE, 512, (Path("hv.whl"), "w1"))
    assert found is not None and (found.accel, found.wheel_sha256) == ("tcg", "w1")
    assert found.incoming() == f"exec:cat {path / 'vmstate'}"
    assert snapshot.find(IMAGE, 256, (Path("hv.whl"), "w1")) is None      # another size
    assert snapshot.find(IMAGE, 512, (Path("hv.whl"), "w2")) is None      # another hv
    assert snapshot.find(IMAGE, 512) is None                              # the image's own
    other = SimpleNamespace(key_hash="img2", append="root=/dev/vda", wheel_sha256="w0")
    assert snapshot.find(other, 512, (Path("hv.whl"), "w1")) is None      # another image
    (path / "vmstate").unlink()                                           # half there
    assert snapshot.find(IMAGE, 512, (Path("hv.whl"), "w1")) is None


def test_a_restored_node_gets_its_own_clock_name_and_entropy():
    conn = FakeConnection([(r"^cat > /dev/urandom && date -s @\d+\.\d{3} ", ok())])
    snapshot.freshen(conn, "node-2")
    ((command, data),) = conn.sent
    assert len(data) == 512
    assert "hostname node-2 && echo node-2 > /etc/hostname" in command
    assert "127.0.1.1 node-2" in command
