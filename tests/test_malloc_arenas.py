"""A serving process keeps at most two glibc malloc arenas (forum.prefork.few_malloc_arenas), as
MALLOC_ARENA_MAX=2 would, unless the operator set MALLOC_ARENA_MAX: every thread allocating at once
would otherwise get an arena of its own, and each keeps what it frees."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc arenas are glibc's")

# Eight threads alive at once, each allocating through malloc (blocks larger than Python's own
# allocator serves), then glibc's own account of its arenas (malloc_info: one <heap> per arena).
SCRIPT = """
import ctypes, sys, threading
from forum.prefork import few_malloc_arenas

if sys.argv[1] == "serving":
    few_malloc_arenas()
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = (ctypes.c_char_p, ctypes.c_char_p)
libc.malloc_info.argtypes = (ctypes.c_int, ctypes.c_void_p)
libc.fclose.argtypes = (ctypes.c_void_p,)
ready = threading.Barrier(9)
done = threading.Event()

def work():
    kept = [bytearray(4096) for _ in range(500)]
    ready.wait()
    done.wait()

threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads:
    t.start()
ready.wait()
out = libc.fopen(sys.argv[2].encode(), b"w")
libc.malloc_info(0, out)
libc.fclose(out)
done.set()
for t in threads:
    t.join()
"""


def arenas(tmp_path, mode: str, **env: str) -> int:
    report = tmp_path / f"{mode}.xml"
    clean = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    subprocess.run([sys.executable, "-c", SCRIPT, mode, str(report)], env={**clean, **env}, check=True,
                   timeout=60)
    return report.read_text().count("<heap nr=")


def test_a_serving_process_keeps_two_arenas_however_many_threads_allocate(tmp_path):
    assert arenas(tmp_path, "plain") > 2  # what a process gets without it: an arena per thread
    assert arenas(tmp_path, "serving") <= 2


def test_the_operators_malloc_arena_max_is_kept(tmp_path):
    assert arenas(tmp_path, "serving", MALLOC_ARENA_MAX="4") == 4
