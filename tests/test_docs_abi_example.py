"""docs/abi.md's runnable example (tick.c) builds and prints what the page says."""

from __future__ import annotations

import re
import shutil

import pytest
from conftest import REPO

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc builds the example")


def test_abi_md_tick_example(native, tmp_path):
    import hv
    from hv import cc

    text = (REPO / "docs" / "abi.md").read_text()
    source = re.search(r"```c\n(/\* tick\.c \*/\n.*?)```", text, re.S).group(1)
    shown = re.search(r"\$ hv cc -o tick\.elf tick\.c && hv run tick\.elf\n(.*?)```", text,
                      re.S).group(1)
    (tmp_path / "tick.c").write_text(source)
    image = cc.compile_guest([tmp_path / "tick.c"], tmp_path / "tick.elf", capture=True)
    ex = hv.run(str(image), timeout=10)
    assert ex.status == 0
    assert ex.console.decode() == shown
