"""One OpenMP thread for the controller's update, in the calling thread only.

The controller's tensors are tiny (35 units), and an update on two intra-op threads spends its
time waiting for the second one when the cores are busy (with ``n_jobs=2``, the other thread
trains a child): tens of times slower, its waiting burning CPU the child needs (figures in
docs/throughput.md). ``torch.set_num_threads(1)`` would fix that but is process-wide: a thread
that starts its first torch work while it is in effect keeps one thread for life.

So this sets only the calling thread's thread counts, with the OpenMP runtime's own
``omp_set_num_threads`` and MKL's ``mkl_set_num_threads_local`` (each changes the calling
thread's setting and nothing else), and restores them after. Torch's process-wide count and
other threads are untouched. Where torch's OpenMP runtime is not a library in torch's own
folder (other builds), it does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
from collections.abc import Iterator
from pathlib import Path

import torch


@functools.cache
def _runtimes() -> tuple[ctypes.CDLL | None, ctypes.CDLL | None]:
    """Torch's OpenMP runtime and its MKL (libraries already loaded), each or ``None``."""
    folder = Path(torch.__file__).parent / "lib"
    openmp = mkl = None
    for pattern in ("libgomp*.so*", "libiomp5*", "libomp*"):
        for path in sorted(folder.glob(pattern)):
            with contextlib.suppress(OSError, AttributeError):
                runtime = ctypes.CDLL(str(path))
                runtime.omp_get_max_threads.restype = ctypes.c_int
                runtime.omp_set_num_threads.argtypes = [ctypes.c_int]
                openmp = openmp or runtime
    for path in sorted(folder.glob("libtorch_cpu*")):  # MKL is linked into it
        with contextlib.suppress(OSError, AttributeError):
            runtime = ctypes.CDLL(str(path))
            # MKL's C function (mkl_set_num_threads_local in mkl_service.h is a macro for it;
            # the lower-case symbol is the Fortran one, which takes a pointer).
            runtime.MKL_Set_Num_Threads_Local.restype = ctypes.c_int
            runtime.MKL_Set_Num_Threads_Local.argtypes = [ctypes.c_int]
            mkl = mkl or runtime
    return openmp, mkl


@contextlib.contextmanager
def one_thread_here() -> Iterator[None]:
    """Torch operations of the calling thread run on one thread inside the block."""
    openmp, mkl = _runtimes()
    # Torch sets each thread's count once, at the thread's first parallel work, from its
    # process-wide count: let that happen first, or it would undo what is set here.
    if openmp is None or torch.get_num_threads() == 1:
        yield
        return
    before = openmp.omp_get_max_threads()
    openmp.omp_set_num_threads(1)
    # MKL keeps a count of its own per thread (torch sets it with the OpenMP one).
    mkl_before = mkl.MKL_Set_Num_Threads_Local(1) if mkl is not None else None
    try:
        yield
    finally:
        openmp.omp_set_num_threads(before)
        if mkl is not None:
            mkl.MKL_Set_Num_Threads_Local(mkl_before)
