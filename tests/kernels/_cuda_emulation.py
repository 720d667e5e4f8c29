"""Running the project's CUDA kernels on the CPU, and whether CuPy can run here.

The kernel source is compiled by the host C++ compiler behind a small CUDA shim: one POSIX
thread per CUDA thread, a barrier for ``__syncthreads``, real atomics, dynamic shared
memory filled with garbage (``0xA5`` bytes) before each block, blocks one after the other.
:func:`fake_cupy` dresses NumPy as CuPy with :class:`EmulatedRawModule` as its
``RawModule``, so that a kernel module's own Python glue launches the emulated kernel on
NumPy arrays. A kernel's parameters are declared in :data:`KERNEL_PARAMS` (C type of the
wrapper, cast to the kernel's type with the template arguments ``{0}``, ``{1}``, ...).

Used by ``test_counting_gpu`` (counting histogram), ``test_sums`` (soft sums) and
``test_fused_cupy`` (soft statistics from logits).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import types

import numpy as np

SHIM = r"""
#include <pthread.h>
#include <cmath>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

struct emu_dim3 { unsigned int x, y, z; };
static thread_local emu_dim3 threadIdx;
static thread_local emu_dim3 blockIdx;
static emu_dim3 blockDim, gridDim;
static pthread_barrier_t emu_barrier;
static unsigned char* emu_shared_mem;

#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__ __restrict

static inline void __syncthreads() { pthread_barrier_wait(&emu_barrier); }
static inline unsigned int atomicAdd(unsigned int* a, unsigned int v) {
    return __atomic_fetch_add(a, v, __ATOMIC_RELAXED);
}
static inline unsigned long long atomicAdd(unsigned long long* a, unsigned long long v) {
    return __atomic_fetch_add(a, v, __ATOMIC_RELAXED);
}

// Blocks one after the other; the threads of a block concurrently, meeting at barriers.
// Shared memory starts as garbage (0xA5 bytes): a kernel must clear what it reads. The 64
// bytes after the launch's dynamic shared memory are a guard: returns the number of blocks
// that wrote into it (a kernel that overruns the shared memory it asked for).
static int emu_launch(unsigned gx, unsigned gy, unsigned nt, unsigned long long smem,
                      const std::function<void()>& body) {
    const unsigned long long guard = 64;
    gridDim = {gx, gy, 1};
    blockDim = {nt, 1, 1};
    std::vector<double> shared((smem + guard) / sizeof(double) + 1);
    int overruns = 0;
    for (unsigned by = 0; by < gy; ++by) {
        for (unsigned bx = 0; bx < gx; ++bx) {
            std::memset(shared.data(), 0xA5, shared.size() * sizeof(double));
            emu_shared_mem = reinterpret_cast<unsigned char*>(shared.data());
            pthread_barrier_init(&emu_barrier, nullptr, nt);
            std::vector<std::thread> threads;
            for (unsigned t = 0; t < nt; ++t) {
                threads.emplace_back([=] {
                    threadIdx = {t, 0, 0};
                    blockIdx = {bx, by, 0};
                    body();
                });
            }
            for (auto& th : threads) th.join();
            pthread_barrier_destroy(&emu_barrier);
            for (unsigned long long i = 0; i < guard; ++i) {
                if (emu_shared_mem[smem + i] != 0xA5) { ++overruns; break; }
            }
        }
    }
    return overruns;
}
"""

# the kernels' parameters as the C wrappers take them: (C type, how the kernel receives it)
KERNEL_PARAMS = {
    "rl_count": [("const void*", "(const {0}*)"), ("const void*", "(const {1}*)"),
                 ("long long", ""), ("long long", ""), ("int", ""), ("int", ""),
                 ("long long", ""), ("void*", "(unsigned long long*)"),
                 ("void*", "(unsigned long long*)")],
    "rl_soft_rows": [("const void*", "(const {0}*)")] * 3 + [
        ("long long", ""), ("long long", ""), ("int", ""), ("void*", "(double*)")],
    "rl_soft_segments": [("const void*", "(const {0}*)")] * 3 + [
        ("long long", ""), ("int", ""), ("long long", ""), ("void*", "(double*)")],
    "rl_fused_soft": [("const void*", "(const {0}*)"), ("const void*", "(const {1}*)"),
                      ("const void*", "(const {0}*)"), ("long long", ""), ("long long", ""),
                      ("int", ""), ("int", ""), ("int", ""), ("long long", ""),
                      ("void*", "(double*)")],
}
CTYPES = {"const void*": ctypes.c_void_p, "void*": ctypes.c_void_p,
          "long long": ctypes.c_longlong, "int": ctypes.c_int}


def have_cxx():
    return shutil.which("g++") is not None


def host_source(code):
    """The CUDA source with dynamic shared memory taken from the emulator."""
    return re.sub(r"extern __shared__ ([\w ]+?) (\w+)\[\];",
                  r"\1* \2 = (\1*)emu_shared_mem;", code)


class EmulatedFunction:
    def __init__(self, lib, symbol, params):
        self.fn = getattr(lib, symbol)
        self.fn.argtypes = [ctypes.c_uint, ctypes.c_uint, ctypes.c_uint, ctypes.c_ulonglong] + [
            CTYPES[c] for c, _ in params]
        self.fn.restype = ctypes.c_int

    def max_threads_per_block(self):
        """As CuPy 14's ``Function.max_threads_per_block()`` (a real kernel's limit depends
        on its registers; a test may lower it)."""
        return 1024

    def __call__(self, grid, block, args, shared_mem=0):
        grid = tuple(grid) + (1,) * (2 - len(grid))
        assert len(block) == 1 and 1 <= block[0] <= self.max_threads_per_block(), block
        assert 1 <= grid[0] < 2**31 and 1 <= grid[1] <= 65535, grid
        assert shared_mem <= 48 * 1024, shared_mem
        cargs = []
        for a in args:
            if isinstance(a, np.ndarray):
                assert a.flags.c_contiguous
                cargs.append(ctypes.c_void_p(a.ctypes.data))
            else:
                cargs.append(a.item() if hasattr(a, "item") else a)
        overruns = self.fn(grid[0], grid[1], block[0], shared_mem, *cargs)
        assert overruns == 0, (f"{overruns} block(s) wrote past their {shared_mem} bytes of "
                               "shared memory")


class EmulatedRawModule:
    """``cupy.RawModule`` stand-in: compiles the named instantiation for the host."""

    cache_dir = None
    _libs: dict = {}

    def __init__(self, code, name_expressions=(), **_):
        self.code = code
        self.names = tuple(name_expressions)

    def get_function(self, name):
        base, args = re.fullmatch(r"(\w+)<(.*)>", name).groups()
        targs = [a.strip() for a in args.split(",")]
        params = KERNEL_PARAMS[base]
        symbol = "emu_" + hashlib.md5(name.encode()).hexdigest()
        formals = ", ".join(f"{c} a{i}" for i, (c, _) in enumerate(params))
        actuals = ", ".join(f"{cast.format(*targs)}a{i}" for i, (_, cast) in enumerate(params))
        wrapper = (f'extern "C" int {symbol}(unsigned gx, unsigned gy, unsigned nt, '
                   f'unsigned long long smem, {formals}) {{\n'
                   f'    return emu_launch(gx, gy, nt, smem, '
                   f'[=] {{ {base}<{args}>({actuals}); }});\n}}\n')
        source = SHIM + host_source(self.code) + wrapper
        key = hashlib.md5(source.encode()).hexdigest()
        lib = self._libs.get(key)
        if lib is None:
            if EmulatedRawModule.cache_dir is None:
                EmulatedRawModule.cache_dir = tempfile.mkdtemp(prefix="rl_emu_")
            src = os.path.join(self.cache_dir, key + ".cpp")
            so = os.path.join(self.cache_dir, key + ".so")
            with open(src, "w") as fh:
                fh.write(source)
            subprocess.run(["g++", "-std=c++17", "-O1", "-shared", "-fPIC", "-pthread",
                            "-Wall", "-Werror", "-Wno-unused-variable",
                            "-Wno-unused-but-set-variable", "-Wno-type-limits",
                            "-o", so, src], check=True, capture_output=True, text=True)
            lib = ctypes.CDLL(so)
            self._libs[key] = lib
        return EmulatedFunction(lib, symbol, params)


def fake_cupy(sms=1):
    """NumPy dressed as CuPy, with emulated RawModules: runs the modules' own glue."""
    m = types.ModuleType("cupy")
    for name in ("ndarray", "zeros", "empty", "ones", "where", "bincount", "arange",
                 "broadcast_to", "ascontiguousarray", "sum", "dtype", "bool_", "int8",
                 "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
                 "float16", "float32", "float64", "asarray"):
        setattr(m, name, getattr(np, name))
    m.count_nonzero = lambda a, axis=None: np.asarray(np.count_nonzero(a, axis=axis))
    m.RawModule = EmulatedRawModule
    m.cuda = types.SimpleNamespace(
        Device=lambda *a: types.SimpleNamespace(id=0),
        runtime=types.SimpleNamespace(
            getDeviceProperties=lambda dev: {"multiProcessorCount": sms}))
    return m


def cupy_reason():
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "no CUDA GPU visible"
    except Exception as exc:  # noqa: BLE001
        return f"CuPy cannot run here: {type(exc).__name__}: {exc}"
    return None


CUPY_REASON = cupy_reason()
