"""seq2exp_cli.cpu_allocator: glibc thresholds raised once, only when the process opts in, user
settings respected."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap

import pytest

CODE = textwrap.dedent("""
    from seq2exp_cli import cpu_allocator
    first = cpu_allocator.keep_freed_memory()
    print(first, cpu_allocator.keep_freed_memory())
""")


def _run(env_extra: dict[str, str]) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_",
                                                            "GLIBC_TUNABLES")}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, env=env, check=True).stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt is Linux-only")
def test_thresholds_raised_once_on_glibc():
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc")
    assert _run({}).split() == ["True", "True"]


def test_user_malloc_settings_are_left_alone():
    assert _run({"MALLOC_MMAP_THRESHOLD_": "65536"}).split() == ["False", "False"]


def test_keep_freed_memory_only_on_cpu():
    import torch

    from seq2exp_cli.cpu_allocator import keep_freed_memory_on

    assert keep_freed_memory_on(torch.device("meta")) is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt is Linux-only")
def test_the_allocator_is_left_alone_until_the_process_opts_in():
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc")
    code = textwrap.dedent("""
        import torch
        from seq2exp_cli import cpu_allocator
        before = cpu_allocator.keep_freed_memory_on(torch.device("cpu"))
        cpu_allocator.allow()
        print(before, cpu_allocator.keep_freed_memory_on(torch.device("cpu")))
    """)
    env = {k: v for k, v in os.environ.items() if k not in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_",
                                                            "GLIBC_TUNABLES")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.split() == ["False", "True"]
