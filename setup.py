"""Build the hv._native C extension.

HV_SANITIZE=1 builds it with AddressSanitizer and UndefinedBehaviorSanitizer
(the tox `asan` environment).
"""

import os
from glob import glob

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class BuildExt(build_ext):
    """Keep sanitizer objects apart from normal ones, so neither is reused for the other."""

    def finalize_options(self):
        super().finalize_options()
        if os.environ.get("HV_SANITIZE"):
            self.build_temp = os.path.join(self.build_temp, "sanitize")
            self.force = True


cflags = ["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-fno-strict-aliasing",
          "-fvisibility=hidden"]
ldflags = []
macros = []
if os.environ.get("HV_SANITIZE"):
    san = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
           "-fno-omit-frame-pointer"]
    cflags += san
    ldflags += san
    # Sanitizers may defeat sibling-call optimisation, so use the dispatch loop.
    macros.append(("HV_NO_TAILCALL", "1"))

setup(
    cmdclass={"build_ext": BuildExt},
    ext_modules=[
        Extension(
            "hv._native",
            sources=sorted(glob("hv/native/*.c")),
            depends=sorted(glob("hv/native/*.h")),
            extra_compile_args=cflags,
            extra_link_args=ldflags,
            define_macros=macros,
        )
    ]
)
