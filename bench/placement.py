"""How far apart this machine's first two CPUs are: the round trip of one cache
line between threads pinned to CPU 0 and CPU 1, in nanoseconds.

The VM this project is measured on places its two vCPUs sometimes on cores that
share a cache (a round trip of 50-80 ns) and sometimes not (300-1000 ns), and
the placement changes while a process runs; kernels whose threads hand data to
each other run up to 2x slower in the second (docs/ARCHITECTURE.md).
``bench/infer.py`` reports the round trip before and after each model, so runs
can be told apart.  Built with the C compiler singa uses for its kernels; None
where there is none, or fewer than two CPUs.

    python bench/placement.py
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

SOURCE = r"""
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>
static _Alignas(64) atomic_int flag;
static int rounds;
static void pin(int c) {
  cpu_set_t s; CPU_ZERO(&s); CPU_SET(c, &s);
  pthread_setaffinity_np(pthread_self(), sizeof s, &s);
}
static void *answer(void *unused) {
  (void)unused; pin(1);
  for (int i = 0; i < rounds; ++i) {
    while (atomic_load_explicit(&flag, memory_order_acquire) != 1) {}
    atomic_store_explicit(&flag, 0, memory_order_release);
  }
  return 0;
}
static void *ask(void *out) {
  pin(0);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (int i = 0; i < rounds; ++i) {
    atomic_store_explicit(&flag, 1, memory_order_release);
    while (atomic_load_explicit(&flag, memory_order_acquire) != 0) {}
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  *(double *)out = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / rounds;
  return 0;
}
double singa_round_trip_ns(int n) {
  double ns = -1.0;
  pthread_t p, q;
  rounds = n;
  atomic_store(&flag, 0);
  if (pthread_create(&q, 0, answer, 0)) return -1.0;
  if (pthread_create(&p, 0, ask, &ns)) { atomic_store(&flag, 1); pthread_join(q, 0); return -1.0; }
  pthread_join(p, 0);
  pthread_join(q, 0);
  return ns;
}
"""


@functools.lru_cache(maxsize=None)
def _probe():
    from singa.codegen import host

    cc = host.compiler()
    if cc is None or (os.cpu_count() or 1) < 2:
        return None
    folder = host.cache_dir()
    path = os.path.join(folder, "placement-" + hashlib.sha256(
        (SOURCE + cc).encode()).hexdigest()[:24] + ".so")
    if not os.path.exists(path):
        os.makedirs(folder, exist_ok=True)
        src = path[:-3] + ".c"
        with open(src, "w", encoding="utf-8") as f:
            f.write(SOURCE)
        r = subprocess.run([cc, "-O2", "-std=c11", "-fPIC", "-shared", "-pthread", src,
                            "-o", path + ".tmp"], capture_output=True, text=True)
        if r.returncode != 0:
            return None
        os.replace(path + ".tmp", path)
    fn = ctypes.CDLL(path).singa_round_trip_ns
    fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_double
    return fn


def round_trip_ns(rounds: int = 100000):
    """The cache line's round trip between CPU 0 and CPU 1 in ns, or None."""
    fn = _probe()
    if fn is None:
        return None
    ns = fn(rounds)
    return ns if ns > 0 else None


if __name__ == "__main__":
    ns = round_trip_ns(200000)
    print("no probe here" if ns is None else f"round trip between CPU 0 and CPU 1: {ns:.0f} ns")
