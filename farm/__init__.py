"""farm: provision 32-bit x86 QEMU nodes and fan guest test suites out across them.

This package is being built in steps (issue 4).  What exists so far: the
inventory (`farm.inventory`, `farm.toml`) and the jinja2 templates that turn
it into QEMU command lines and an ssh_config (`farm.render`).
"""
