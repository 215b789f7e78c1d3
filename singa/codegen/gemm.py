"""Matrix products as host-C kernels: a packed, register-blocked float32 GEMM.

Measured on this project's CPU (2 Zen 4 cores), NumPy's OpenBLAS reaches
70-100 GFLOP/s per core on the shapes convolutions and transformers make;
the kernel here reaches 85-110, and about twice that on two cores (the same C
against ``np.matmul``, measured when it was written; the issue note has the table).
It also keeps the second core in one thread pool: OpenBLAS's own threads
fought the OpenMP threads of the other kernels for the two cores.

The scheme is the classic one (Goto; BLIS): C[M, N] += A[M, K] B[K, N] in
blocks of ``KC`` rows of B by ``NC`` columns, each block copied ("packed") into
``NR``-column panels that the micro-kernel streams.  A is read in place: the
micro-kernel broadcasts its elements straight from MR rows of A (only a ragged
last row panel is packed, zero-padded); packing A cost a scalar pass per
product, as much as the product itself where N is small (late convolution
layers, 1.3-1.4x faster without it).  The micro-kernel keeps an MR x NR tile of C
in registers (16 vectors of 16 floats) and adds one rank-1 update per k: two
vector loads of B, MR broadcasts of A; a column edge of at most 16 computes half
the tile.  Edges are zero-padded in the packed panels and stored through a small
tile.  Threads split the (M, N) grid into
equal parts, preferring column parts (threads splitting rows would each pack
the same panels of B); a batch of small products is split by batch instead.

Only the host dialect has this kernel: on CUDA a MatMul is a cuBLAS call.
"""

from __future__ import annotations

import math

from . import winograd
from .epilogue import NO_EPILOGUE
from .render import host_function

MR, NR, KC, NC = 8, 32, 256, 256
# floats of a convolution's padded image copy at most (64 MB; bigger images are
# packed from the image itself, without the copy)
PADDED_MAX = 1 << 24
# B's rows are prefetched this many rows ahead while packed (weights come from
# memory on every call)
PREFETCH_ROWS = 8
# a thread's part of a product with at most this many rows reads B's full panels
# in place (see singa_gemm_part); where B is a weight, shared by every row (a
# transformer's projections), up to WEIGHT_DIRECT_ROWS
DIRECT_ROWS = 64
WEIGHT_DIRECT_ROWS = 512
# below this many multiply-adds a product stays on one thread
PARALLEL_MIN = 1 << 18

SUPPORT = r"""
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <omp.h>
typedef float singa_v16 __attribute__((vector_size(64)));
typedef float singa_v16u __attribute__((vector_size(64), aligned(4)));
typedef float singa_v4 __attribute__((vector_size(16)));
typedef float singa_v4u __attribute__((vector_size(16), aligned(4)));
@SIZES@

/* an elementwise chain applied to finished parts of C while they are in this
   thread's cache (bias, activation, residual after a product): ``run`` takes
   ``y`` (the kernel's result), the chain's other operands and the flat
   positions [lo, hi) of ``y`` to finish */
struct singa_ep {
  void (*run)(float *y, const void *const *args, long long lo, long long hi);
  float *y;
  const void *const *args;
};

/* rows k0.. of B's columns [j0, j0 + nc) as NR-column panels, k-major, the
   last one zero-padded: row by row, so B is read along its rows */
static void singa_gemm_pack_b(int kc, int nc, const float *restrict b, long long ldb,
                              float *restrict bp) {
  const int full = nc / SINGA_NR * SINGA_NR;
  for (int k = 0; k < kc; ++k) {
    const float *row = b + k * ldb;
    if (k + SINGA_PREFETCH_ROWS < kc)
      for (int j = 0; j < nc; j += 16) __builtin_prefetch(row + SINGA_PREFETCH_ROWS * ldb + j);
    for (int j = 0; j < full; j += SINGA_NR) {
      float *dst = bp + (long long)j * kc + k * SINGA_NR;
      *(singa_v16 *)dst = *(const singa_v16u *)(row + j);
      *(singa_v16 *)(dst + 16) = *(const singa_v16u *)(row + j + 16);
    }
    if (full < nc) {
      float *dst = bp + (long long)full * kc + k * SINGA_NR;
      const float *src = row + full;
      for (long long j = 0; j < SINGA_NR; ++j) dst[j] = j < nc - full ? src[j] : 0.f;
    }
  }
}

/* the same panels from B stored transposed (b[j * ldb + k]): by columns of B */
static void singa_gemm_pack_bt(int kc, int nc, const float *restrict b, long long ldb,
                               float *restrict bp) {
  const int padded = (nc + SINGA_NR - 1) / SINGA_NR * SINGA_NR;
  for (int j = 0; j < padded; ++j) {
    float *dst = bp + (long long)(j / SINGA_NR) * SINGA_NR * kc + j % SINGA_NR;
    const float *col = b + j * ldb;
    for (int k = 0; k < kc; ++k) dst[k * SINGA_NR] = j < nc ? col[k] : 0.f;
  }
}

/* mr rows of A (columns k0..k0+kc) as one MR-row panel, k-major, zero-padded */
static void singa_gemm_pack_a(int kc, int mr, const float *restrict a, long long lda,
                              float *restrict ap) {
  for (int i = 0; i < SINGA_MR; ++i)
    for (int k = 0; k < kc; ++k) ap[k * SINGA_MR + i] = i < mr ? a[i * lda + k] : 0.f;
}

/* -std=c11 turns GCC's multiply-add contraction off: the tile asks for it back
   (fused multiply-adds are half the instructions, and round once) */
#if defined(__GNUC__) && !defined(__clang__)
#define SINGA_CONTRACT __attribute__((optimize("fp-contract=fast")))
#else
#define SINGA_CONTRACT
#endif

/* C tile (mr x nr of MR x NR) = (first ? 0 : C) + A x B panel, A's element (i, k)
   at a[i * sa + k * sk]: read in place from row-major A (sa = lda, sk = 1; packing
   A cost a scalar pass over it per product, as much as the products themselves
   where N is small) or from a packed, zero-padded panel (sa = 1, sk = MR) for a
   ragged last row panel; B's row k at b + k * sb (a packed panel: sb = NR; or B
   itself, see singa_gemm_part).  A column edge of at most 16 computes half the tile, one
   of at most 4 a quarter, one of at most 20 a half and a quarter (4-lane
   multiply-adds cost half of a 16-lane one on Zen 4). */
static inline SINGA_CONTRACT void singa_gemm_tile(int kc, const float *restrict a, long long sa,
                                   long long sk, const float *restrict b, long long sb,
                                   float *restrict c, long long ldc, int first, int mr,
                                   int nr) {
#ifdef __clang__
#pragma clang fp contract(fast)
#endif
  singa_v16 c0[SINGA_MR], c1[SINGA_MR];
  _Pragma("GCC unroll 16")
  for (int i = 0; i < SINGA_MR; ++i) { c0[i] = (singa_v16){0}; c1[i] = (singa_v16){0}; }
  /* the rank-1 updates of one vector type: columns [0, 4) or [0, 16) (U: T
     unaligned) */
#define SINGA_TILE_ONE(T, U, acc) \
  for (int k = 0; k < kc; ++k) { \
    const T b0 = *(const U *)(b + k * sb); \
    _Pragma("GCC unroll 16") \
    for (int i = 0; i < SINGA_MR; ++i) acc[i] += a[i * sa + k * sk] * b0; \
  }
  /* columns [0, 16) and, of type T, those from 16: each element of A read once */
#define SINGA_TILE_TWO(T, U, acc) \
  for (int k = 0; k < kc; ++k) { \
    const singa_v16 b0 = *(const singa_v16u *)(b + k * sb); \
    const T b1 = *(const U *)(b + k * sb + 16); \
    _Pragma("GCC unroll 16") \
    for (int i = 0; i < SINGA_MR; ++i) { \
      const float ai = a[i * sa + k * sk]; \
      c0[i] += ai * b0; acc[i] += ai * b1; \
    } \
  }
  if (nr <= 4) {  /* a quarter: 14x14 images' 196 columns end in 4 */
    singa_v4 d0[SINGA_MR];
    for (int i = 0; i < SINGA_MR; ++i) d0[i] = (singa_v4){0};
    SINGA_TILE_ONE(singa_v4, singa_v4u, d0)
    for (int i = 0; i < SINGA_MR; ++i)
      for (int l = 0; l < 4; ++l) c0[i][l] = d0[i][l];
  } else if (nr <= 16) {
    SINGA_TILE_ONE(singa_v16, singa_v16u, c0)
  } else if (nr <= 20) {  /* 16 + 4: a 7x7 image's 49 columns end in 17 */
    singa_v4 d1[SINGA_MR];
    for (int i = 0; i < SINGA_MR; ++i) d1[i] = (singa_v4){0};
    SINGA_TILE_TWO(singa_v4, singa_v4u, d1)
    for (int i = 0; i < SINGA_MR; ++i)
      for (int l = 0; l < 4; ++l) c1[i][l] = d1[i][l];
  } else {
    SINGA_TILE_TWO(singa_v16, singa_v16u, c1)
  }
#undef SINGA_TILE_ONE
#undef SINGA_TILE_TWO
  /* every loop over the accumulators unrolled: one left rolled made GCC keep
     them all on the stack, 16 stores and loads more a tile (16-channel 1x1
     convolutions, 96 x 16 by 16 x 12544: 1.06x faster) */
  if (mr == SINGA_MR && nr == SINGA_NR) {
    if (first) {
      _Pragma("GCC unroll 16")
      for (int i = 0; i < SINGA_MR; ++i) {
        *(singa_v16u *)(c + i * ldc) = c0[i];
        *(singa_v16u *)(c + i * ldc + 16) = c1[i];
      }
    } else {
      _Pragma("GCC unroll 16")
      for (int i = 0; i < SINGA_MR; ++i) {
        *(singa_v16u *)(c + i * ldc) += c0[i];
        *(singa_v16u *)(c + i * ldc + 16) += c1[i];
      }
    }
    return;
  }
  float t[SINGA_MR][SINGA_NR] __attribute__((aligned(64)));
  _Pragma("GCC unroll 16")
  for (int i = 0; i < SINGA_MR; ++i) {
    *(singa_v16 *)t[i] = c0[i];
    *(singa_v16 *)(t[i] + 16) = c1[i];
  }
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nr; ++j) c[i * ldc + j] = first ? t[i][j] : c[i * ldc + j] + t[i][j];
}

/* a convolution's column matrix, never made: row c * KH * KW + r * KW + s, column
   oh * OW + ow holds x[c, oh * SH - PH + r * DH, ow * SW - PW + s * DW] (0 in the
   padding), read from the image (C x H x W) as the panels are packed.  With ``p``
   (output rows of 16 or more: see singa_gemm_conv) it is read from ``p``, the
   image zero-padded with its columns split by phase: padded column X of channel c,
   padded row Y, at p[((c * SW + X % SW) * hp + Y) * wq + X / SW].  There the
   element of row (c, r, s), column (oh, ow) sits at koff(c, r, s) + joff(oh, ow):
   every 16 consecutive columns are at most two runs of consecutive floats. */
struct singa_conv {
  const float *x; int h, w, kh, kw, sh, sw, dh, dw, ph, pw, ow;
  const float *p; int hp, wq;
};

/* columns [j0, j0 + nc) of rows k0.. of the column matrix from the padded phase
   planes, packed as pack_b packs B: each half panel (16 columns) is two unaligned
   vector loads, one from each output row it spans, blended (3.5x faster than
   copying runs with memcpy, measured on ResNet's 56x56 layers) */
static void singa_gemm_pack_planes(int kc, int nc, int k0, int j0,
                                   const struct singa_conv *cv, float *restrict bp) {
  typedef int singa_i16 __attribute__((vector_size(64)));
  enum { HALVES = (SINGA_NC + SINGA_NR) / 16 };
  const singa_i16 lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  long long at_a[HALVES], at_b[HALVES];
  singa_i16 first[HALVES], valid[HALVES];
  const int halves = (nc + SINGA_NR - 1) / SINGA_NR * 2;
  for (int hh = 0; hh < halves; ++hh) {
    const int q = j0 + hh * 16, oh = q / cv->ow, ow = q % cv->ow;
    const int split = cv->ow - ow < 16 ? cv->ow - ow : 16, left = nc - hh * 16;
    at_a[hh] = (long long)oh * cv->sh * cv->wq + ow;
    /* lanes from ``split`` on start the next output row, if any is needed */
    at_b[hh] = split < 16 && split < left ? (long long)(oh + 1) * cv->sh * cv->wq - split
                                          : at_a[hh];
    first[hh] = lane < split;
    valid[hh] = lane < left;
  }
  const int taps = cv->kh * cv->kw;
  const long long phase = (long long)cv->hp * cv->wq;
  for (int k = 0; k < kc; ++k) {
    const int kk = k0 + k, ch = kk / taps, t = kk % taps;
    const int x = t % cv->kw * cv->dw;  /* the tap's padded column offset */
    const float *src = cv->p + (ch * cv->sw + x % cv->sw) * phase
                       + (long long)(t / cv->kw * cv->dh) * cv->wq + x / cv->sw;
    for (int hh = 0; hh < halves; ++hh) {
      const singa_i16 va = (singa_i16)*(const singa_v16u *)(src + at_a[hh]);
      const singa_i16 vb = (singa_i16)*(const singa_v16u *)(src + at_b[hh]);
      *(singa_i16 *)(bp + (long long)(hh / 2) * SINGA_NR * kc + k * SINGA_NR + hh % 2 * 16) =
          ((va & first[hh]) | (vb & ~first[hh])) & valid[hh];
    }
  }
}

/* the same from the image itself (output rows shorter than 16, or no room for
   the padded copy): each panel row gathered straight from the window origins of
   its columns, which the compiler vectorises */
static void singa_gemm_pack_conv(int kc, int nc, int k0, int j0, const struct singa_conv *cv,
                                 float *restrict bp) {
  const int taps = cv->kh * cv->kw, h = cv->h, w = cv->w;
  const int padded = (nc + SINGA_NR - 1) / SINGA_NR * SINGA_NR;
  int ihs[SINGA_NC + SINGA_NR], iws[SINGA_NC + SINGA_NR];  /* window origins */
  for (int j = 0; j < padded; ++j) {
    const int q = j0 + j;
    ihs[j] = j < nc ? q / cv->ow * cv->sh - cv->ph : -(1 << 30);  /* padding: 0 */
    iws[j] = q % cv->ow * cv->sw - cv->pw;
  }
  for (int k = 0; k < kc; ++k) {
    const int kk = k0 + k, ch = kk / taps, t = kk % taps;
    const int dr = t / cv->kw * cv->dh, ds = t % cv->kw * cv->dw;
    const float *plane = cv->x + (long long)ch * h * w;
    for (int p = 0; p < padded; p += SINGA_NR) {
      float *restrict dst = bp + (long long)p * kc + k * SINGA_NR;
      SINGA_SIMD
      for (int l = 0; l < SINGA_NR; ++l) {
        const int ih = ihs[p + l] + dr, iw = iws[p + l] + ds;
        dst[l] = (unsigned)ih < (unsigned)h && (unsigned)iw < (unsigned)w
                     ? plane[ih * w + iw] : 0.f;
      }
    }
  }
}

/* the epilogue over rows [m0, m1), columns [n0, n1) of C */
static void singa_gemm_ep_rows(const struct singa_ep *ep, float *c, long long ldc, int m0,
                               int m1, int n0, int n1) {
  if (ep)
    for (int i = m0; i < m1; ++i) {
      const long long lo = (c + i * ldc + n0) - ep->y;
      ep->run(ep->y, ep->args, lo, lo + (n1 - n0));
    }
}

/* one row panel of C's columns [0, nc) in a block of kc rows of B: A's panel at
   a[i * sa + k * sk]; the first ``direct`` columns of B read where they lie
   (``b``, rows ldb apart), the rest from the packed panels ``bp`` */
static inline void singa_gemm_row_panel(int kc, int nc, int direct, const float *restrict a,
                                        long long sa, long long sk, const float *restrict b,
                                        long long ldb, const float *restrict bp,
                                        float *restrict c, long long ldc, int first, int mr) {
  for (int j = 0; j < direct; j += SINGA_NR)
    singa_gemm_tile(kc, a, sa, sk, b + j, ldb, c + j, ldc, first, mr, SINGA_NR);
  for (int j = direct; j < nc; j += SINGA_NR)
    singa_gemm_tile(kc, a, sa, sk, bp + (long long)(j - direct) * kc, SINGA_NR, c + j, ldc,
                    first, mr, nc - j < SINGA_NR ? nc - j : SINGA_NR);
}

/* rows [m0, m1) and columns [n0, n1) of C = A B, on this thread; B is the column
   matrix of ``cv`` when that is given.  Where at most ``direct`` rows of A use
   them, B's full panels are read in place rather than packed: each packed element
   would serve few tiles (SqueezeNet's 16-filter 1x1 convolutions, 16 x 128 by
   128 x 3025: 1.45x faster; 64 rows by 3136 columns: 1.1x), and a weight read
   from memory streams in while the tiles run, where packing it is a pass of its
   own (BERT's 128 x 3072 by 3072 x 768 from memory: 1.12x faster); only a ragged
   last panel is packed (zero-padded). */
static void singa_gemm_part(int m0, int m1, int n0, int n1, int k, const float *restrict a,
                            long long lda, const float *restrict b, long long ldb,
                            const struct singa_conv *cv,
                            float *restrict c, long long ldc, int tb, float *restrict bp,
                            float *restrict ap, const struct singa_ep *ep, int direct_rows) {
  for (int j0 = n0; j0 < n1; j0 += SINGA_NC) {
    const int nc = n1 - j0 < SINGA_NC ? n1 - j0 : SINGA_NC;
    const int direct = !cv && !tb && m1 - m0 <= direct_rows ? nc / SINGA_NR * SINGA_NR : 0;
    for (int k0 = 0; k0 < k; k0 += SINGA_KC) {
      const int kc = k - k0 < SINGA_KC ? k - k0 : SINGA_KC;
      if (cv && cv->p) singa_gemm_pack_planes(kc, nc, k0, j0, cv, bp);
      else if (cv) singa_gemm_pack_conv(kc, nc, k0, j0, cv, bp);
      else if (tb) singa_gemm_pack_bt(kc, nc, b + j0 * ldb + k0, ldb, bp);
      else if (direct < nc) singa_gemm_pack_b(kc, nc - direct, b + k0 * ldb + j0 + direct, ldb, bp);
      const float *bk = direct ? b + k0 * ldb + j0 : 0;  /* B itself (cv: there is none) */
      for (int i0 = m0; i0 < m1; i0 += SINGA_MR) {
        const int mr = m1 - i0 < SINGA_MR ? m1 - i0 : SINGA_MR;
        float *ci = c + i0 * ldc + j0;
        /* the next panel's rows of A into L2: a convolution's weights come from
           memory on every call, in rows too short for the hardware to prefetch
           (EfficientNet's 1152 x 192 by 192 x 49 from memory: 1.15x faster) */
        if (i0 + 2 * SINGA_MR <= m1)
          for (int i = 0; i < SINGA_MR; ++i)
            for (int q = 0; q < kc; q += 16)
              __builtin_prefetch(a + (i0 + SINGA_MR + i) * lda + k0 + q, 0, 2);
        if (mr == SINGA_MR) {
          singa_gemm_row_panel(kc, nc, direct, a + i0 * lda + k0, lda, 1, bk, ldb, bp, ci, ldc,
                               k0 == 0, SINGA_MR);
        } else {
          singa_gemm_pack_a(kc, mr, a + i0 * lda + k0, lda, ap);
          singa_gemm_row_panel(kc, nc, direct, ap, 1, SINGA_MR, bk, ldb, bp, ci, ldc, k0 == 0,
                               mr);
        }
      }
    }
    singa_gemm_ep_rows(ep, c, ldc, m0, m1, j0, j0 + nc);  /* these columns are final */
  }
}

/* each thread's packing buffers (B's panels, then one A panel), kept between calls
   (allocating them per call cost page faults on every product) and freed when the
   thread ends.  They live on the heap: a library (loaded by ctypes) holding them as
   thread-local arrays made every product 12-15% slower, even unused. */
static pthread_key_t singa_gemm_key, singa_gemm_scratch_key;
static pthread_once_t singa_gemm_once = PTHREAD_ONCE_INIT;
static void singa_gemm_make_key(void) {
  pthread_key_create(&singa_gemm_key, free);
  pthread_key_create(&singa_gemm_scratch_key, free);
}
static float *singa_gemm_buffers(void) {
  pthread_once(&singa_gemm_once, singa_gemm_make_key);
  float *p = pthread_getspecific(singa_gemm_key);
  if (!p) {
    p = aligned_alloc(64, sizeof(float) * SINGA_KC * (SINGA_NC + SINGA_MR));
    if (!p) {  /* a quarter megabyte: nothing sensible is left to do */
      fputs("singa: out of memory for the GEMM packing buffers\n", stderr);
      abort();
    }
    pthread_setspecific(singa_gemm_key, p);
  }
  return p;
}

/* this thread's scratch of at least ``count`` floats, kept (and grown) between
   calls like the packing buffers (64 bytes of header hold its size), or NULL
   where the heap has no room */
static float *singa_gemm_scratch(long long count) {
  pthread_once(&singa_gemm_once, singa_gemm_make_key);
  long long *block = pthread_getspecific(singa_gemm_scratch_key);
  if (!block || block[0] < count) {
    free(block);
    block = aligned_alloc(64, (size_t)(64 + (sizeof(float) * count + 63) / 64 * 64));
    pthread_setspecific(singa_gemm_scratch_key, block);
    if (!block) return 0;
    block[0] = count;
  }
  return (float *)(block + 8);
}

/* C[m, n] = A[m, k] B[k, n] (row-major, leading dimensions lda, ldb, ldc; with
   ``tb`` B is stored transposed, n x k), on up to ``threads`` threads, each
   taking an equal part of the (M, N) grid */
/* columns [n0, n1) of C = A B for a few rows of A (m < MR: a classifier's last
   layer, a decoder step): B streamed once, in its own layout, every row of A
   riding along; tiles of MR rows would waste most of their multiply-adds */
static void SINGA_CONTRACT singa_gemm_rows(int m, int n0, int n1, int k,
                                           const float *restrict a, long long lda,
                                           const float *restrict b, long long ldb, int tb,
                                           float *restrict c, long long ldc) {
  if (tb) {  /* B stored n x k: each C element a dot product of two rows */
    for (int j = n0; j < n1; ++j) {
      const float *bj = b + j * ldb;
      for (int i = 0; i < m; ++i) {
        const float *ai = a + i * lda;
        singa_v16 acc = (singa_v16){0};
        int q = 0;
        for (; q + 16 <= k; q += 16)
          acc += *(const singa_v16u *)(ai + q) * *(const singa_v16u *)(bj + q);
        float sum = 0.f;
        for (int l = 0; l < 16; ++l) sum += acc[l];
        for (; q < k; ++q) sum += ai[q] * bj[q];
        c[i * ldc + j] = sum;
      }
    }
    return;
  }
  enum { W = 512 };  /* columns of C kept in cache while B's rows stream past */
  for (int j0 = n0; j0 < n1; j0 += W) {
    const int w = n1 - j0 < W ? n1 - j0 : W;
    for (int i = 0; i < m; ++i) memset(c + i * ldc + j0, 0, sizeof(float) * w);
    for (int q = 0; q < k; ++q) {
      const float *bq = b + q * ldb + j0;
      for (int i = 0; i < m; ++i) {
        const float aiq = a[i * lda + q];
        float *ci = c + i * ldc + j0;
        SINGA_SIMD
        for (int j = 0; j < w; ++j) ci[j] += aiq * bq[j];
      }
    }
  }
}

/* a thread's share of a product in cycles per k: ``rows`` row panels by ``cols``
   columns.  A tile's rank-1 update is 16 vector multiply-adds, its column edges
   less (singa_gemm_tile); packing B costs about 2 per panel (a convolution's
   columns more: blends, or gathers from the image), and reading A's rows about 1
   per panel.  The ragged edges and the packing decide between splitting rows and
   columns: SqueezeNet's classifier, 1000 x 512 by 512 x 169, is 1.2x faster by
   rows, where counting panels alone split its 6 column panels. */
static long long singa_gemm_cost(int rows, int cols, const struct singa_conv *cv) {
  const int full = cols / SINGA_NR, rest = cols % SINGA_NR;
  const int edge = rest == 0 ? 0 : rest <= 4 ? 4 : rest <= 16 ? 8 : rest <= 20 ? 12 : 16;
  const int panels = full + (rest > 0), pack = !cv ? 2 : cv->p ? 4 : 16;
  return (long long)rows * (16 * full + edge) + (long long)pack * panels + rows;
}

/* element (kk, j) of B: B itself, B stored transposed, or the column matrix of
   ``cv`` read from its image */
static inline float singa_gemm_b_at(const float *restrict b, long long ldb, int tb,
                                    const struct singa_conv *cv, long long kk, long long j) {
  if (!cv) return tb ? b[j * ldb + kk] : b[kk * ldb + j];
  const long long taps = (long long)cv->kh * cv->kw, ch = kk / taps, t = kk % taps;
  const long long ih = j / cv->ow * cv->sh - cv->ph + t / cv->kw * cv->dh;
  const long long iw = j % cv->ow * cv->sw - cv->pw + t % cv->kw * cv->dw;
  return (unsigned long long)ih < (unsigned long long)cv->h
             && (unsigned long long)iw < (unsigned long long)cv->w
             ? cv->x[(ch * cv->h + ih) * cv->w + iw] : 0.f;
}

/* the last ``thin`` columns [n0, n0 + thin) of C for rows [m0, m1): each element a
   dot product of a row of A with a column of B, gathered first into ``col`` (thin
   x k floats).  A 7x7 image's 49th column costs the tiles as much as 4 more
   (a 4-lane edge: half a cycle a k for each row), a dot product 1/16 of a cycle:
   ResNet's 512 x 4608 by 4608 x 49 1.14x faster. */
static void SINGA_CONTRACT singa_gemm_thin(int m0, int m1, int n0, int thin, int k,
                                           const float *restrict a, long long lda,
                                           const float *restrict b, long long ldb, int tb,
                                           const struct singa_conv *cv, float *restrict c,
                                           long long ldc, float *restrict col,
                                           const struct singa_ep *ep) {
  if (m0 >= m1) return;
  for (int q = 0; q < thin; ++q)
    for (long long kk = 0; kk < k; ++kk)
      col[q * (long long)k + kk] = singa_gemm_b_at(b, ldb, tb, cv, kk, n0 + q);
  for (int i = m0; i < m1; ++i) {
    const float *ai = a + i * lda;
    for (int q = 0; q < thin; ++q) {
      const float *bq = col + q * (long long)k;
      singa_v16 acc = (singa_v16){0};
      long long kk = 0;
      for (; kk + 16 <= k; kk += 16)
        acc += *(const singa_v16u *)(ai + kk) * *(const singa_v16u *)(bq + kk);
      float sum = 0.f;
      for (int l = 0; l < 16; ++l) sum += acc[l];
      for (; kk < k; ++kk) sum += ai[kk] * bq[kk];
      c[i * ldc + n0 + q] = sum;
    }
  }
  singa_gemm_ep_rows(ep, c, ldc, m0, m1, n0, n0 + thin);
}

static void singa_gemm_any(int m, int n, int k, const float *restrict a, long long lda,
                           const float *restrict b, long long ldb, int tb,
                           const struct singa_conv *cv, float *restrict c, long long ldc,
                           int threads, const struct singa_ep *ep, int direct_rows) {
  if (k == 0) {
    for (int i = 0; i < m; ++i) memset(c + i * ldc, 0, sizeof(float) * n);
    singa_gemm_ep_rows(ep, c, ldc, 0, m, 0, n);
    return;
  }
  if (m < SINGA_MR && !cv) {
    const int parts = threads < (n + 63) / 64 ? threads : (n + 63) / 64;
#pragma omp parallel num_threads(parts) if (parts > 1)
    {
      const int t = omp_get_thread_num(), p = omp_get_num_threads();
      const int n0 = (int)((long long)n * t / p), n1 = (int)((long long)n * (t + 1) / p);
      singa_gemm_rows(m, n0, n1, k, a, lda, b, ldb, tb, c, ldc);
      singa_gemm_ep_rows(ep, c, ldc, 0, m, n0, n1);
    }
    return;
  }
  /* a last column or two past a multiple of 16 by dot products (singa_gemm_thin;
     four, 14x14 images' edge, were 1.02x slower), gathered into a thread's
     packing buffer */
  const int rest = n % 16;
  const int thin = n >= 32 && rest > 0 && rest <= 2
                   && (long long)rest * k <= (long long)SINGA_KC * SINGA_NC ? rest : 0;
  const int nm = n - thin;  /* the tiles' columns */
  const int mp = (m + SINGA_MR - 1) / SINGA_MR, np = (nm + SINGA_NR - 1) / SINGA_NR;
  /* the split of the panel grid whose busiest thread has the least to do, in
     cycles per k as singa_gemm_cost counts them */
  int nparts = 1, mparts = 1;
  long long best = -1;
  for (int np_ = 1; np_ <= threads; ++np_) {
    const int mp_ = threads / np_;
    if (threads % np_ || np_ > np || mp_ > mp) continue;
    long long most = 0;
    for (int tm = 0; tm < mp_; ++tm)
      for (int tn = 0; tn < np_; ++tn) {
        const int r0 = (int)((long long)mp * tm / mp_), r1 = (int)((long long)mp * (tm + 1) / mp_);
        const int q0 = (int)((long long)np * tn / np_), q1 = (int)((long long)np * (tn + 1) / np_);
        const int cols = (q1 * SINGA_NR < nm ? q1 * SINGA_NR : nm) - q0 * SINGA_NR;
        const long long cost = singa_gemm_cost(r1 - r0, cols, cv);
        most = cost > most ? cost : most;
      }
    if (best < 0 || most < best) { best = most; nparts = np_; mparts = mp_; }
  }
#pragma omp parallel num_threads(mparts * nparts) if (mparts * nparts > 1)
  {
    const int t = omp_get_thread_num(), tm = t / nparts, tn = t % nparts;
    const int m0 = (int)((long long)mp * tm / mparts) * SINGA_MR;
    const int m1 = (int)((long long)mp * (tm + 1) / mparts) * SINGA_MR;
    const int n0 = (int)((long long)np * tn / nparts) * SINGA_NR;
    const int n1 = (int)((long long)np * (tn + 1) / nparts) * SINGA_NR;
    float *bp = singa_gemm_buffers();
    singa_gemm_part(m0, m1 < m ? m1 : m, n0, n1 < nm ? n1 : nm, k, a, lda, b, ldb, cv, c, ldc,
                    tb, bp, bp + SINGA_KC * SINGA_NC, ep, direct_rows);
    if (thin) {  /* every thread an equal share of the rows, whatever its part */
      const int p = omp_get_num_threads();
      singa_gemm_thin((int)((long long)m * t / p), (int)((long long)m * (t + 1) / p), nm, thin,
                      k, a, lda, b, ldb, tb, cv, c, ldc, bp, ep);
    }
  }
}

static void singa_gemm(int m, int n, int k, const float *restrict a, long long lda,
                       const float *restrict b, long long ldb, int tb, float *restrict c,
                       long long ldc, int threads, const struct singa_ep *ep) {
  singa_gemm_any(m, n, k, a, lda, b, ldb, tb, 0, c, ldc, threads, ep, SINGA_DIRECT_ROWS);
}

/* the same where B is a weight (see singa_gemm_part) */
static void singa_gemm_weight(int m, int n, int k, const float *restrict a, long long lda,
                              const float *restrict b, long long ldb, int tb,
                              float *restrict c, long long ldc, int threads,
                              const struct singa_ep *ep) {
  singa_gemm_any(m, n, k, a, lda, b, ldb, tb, 0, c, ldc, threads, ep, SINGA_WEIGHT_DIRECT_ROWS);
}

/* the image of ``pc`` zero-padded with its columns split by phase, into ``p``
   (``planes`` = channels x phases planes of ``plane`` floats, then 64 zeros: the
   packing's vector loads run up to 16 floats past a row), over the threads */
static void singa_gemm_pad_image(const struct singa_conv *pc, float *p, long long planes,
                                 long long plane, int threads) {
#pragma omp parallel for num_threads(threads) if (threads > 1 && planes * plane > 65536)
  for (long long q = 0; q < planes; ++q) {
    const int ch = (int)(q / pc->sw), phase = (int)(q % pc->sw);
    const float *img = pc->x + (long long)ch * pc->h * pc->w;
    for (int y = 0; y < pc->hp; ++y) {
      const int ih = y - pc->ph;
      float *row = p + q * plane + (long long)y * pc->wq;
      const float *src = img + (long long)((unsigned)ih < (unsigned)pc->h ? ih : 0) * pc->w;
      if ((unsigned)ih >= (unsigned)pc->h) {
        memset(row, 0, sizeof(float) * pc->wq);
      } else if (pc->sw == 1) {  /* a copy between zeros (the loop below would gather) */
        const int lo = pc->pw < pc->wq ? pc->pw : pc->wq;
        const int hi = pc->pw + pc->w < pc->wq ? pc->pw + pc->w : pc->wq;
        memset(row, 0, sizeof(float) * lo);
        memcpy(row + lo, src + (lo - pc->pw), sizeof(float) * (hi - lo));
        memset(row + hi, 0, sizeof(float) * (pc->wq - hi));
      } else if (pc->sw == 2) {
        /* the common stride as a constant, the padding apart: the inside is a
           stride-2 copy, which vectorises as loads and permutes (the clipped
           form, under -fwrapv, became masked gathers: ResNet-50's strided
           128-channel layer spent a third of its time here) */
        const long long off = phase - pc->pw, wq = pc->wq;
        const long long lo = off >= 0 ? 0 : (1 - off) / 2;
        long long hi = (pc->w - off + 1) / 2;
        hi = hi < lo ? lo : hi > wq ? wq : hi;
        const float *s2 = src + off;
        for (long long u = 0; u < lo; ++u) row[u] = 0.f;
        for (long long u = lo; u < hi; ++u) row[u] = s2[2 * u];
        for (long long u = hi; u < wq; ++u) row[u] = 0.f;
      } else {
        SINGA_SIMD
        for (int u = 0; u < pc->wq; ++u) {
          const int iw = u * pc->sw + phase - pc->pw;
          row[u] = (unsigned)iw < (unsigned)pc->w ? src[iw] : 0.f;
        }
      }
    }
  }
  memset(p + planes * plane, 0, sizeof(float) * 64);
}

/* C[m, n] = A[m, k] cols(x), the column matrix of ``cv`` (k rows, n columns).
   Output rows of 16 or more read the columns from the image zero-padded and
   split by phase (struct singa_conv), made here, on the threads, in this thread's
   scratch: its rows then pack as runs, whatever the stride and padding.  Images
   whose copy would pass SINGA_PADDED_MAX floats (or find no room) are read as
   they are. */
static void singa_gemm_conv(int m, int n, int k, const float *restrict a, long long lda,
                            const struct singa_conv *cv, float *restrict c, long long ldc,
                            int threads, const struct singa_ep *ep) {
  struct singa_conv pc = *cv;
  const int oh = n / pc.ow;
  float *sub = pc.kh == 1 && pc.kw == 1 ? singa_gemm_scratch((long long)k * n + 64) : 0;
  if (sub) {
    /* a 1x1 window: the column matrix is the image subsampled (strided or
       padded), made compact here (a quarter of the image at stride 2, where the
       padded copy below is the whole of it), then a plain product (ResNet-50's
       strided projections, 512 x 256 by 256 x 784: 1.8x faster) */
#pragma omp parallel for num_threads(threads) if (threads > 1 && (long long)k * n > 65536)
    for (long long q = 0; q < (long long)k * oh; ++q) {
      const long long ch = q / oh, ih = q % oh * pc.sh - pc.ph;
      float *dst = sub + q * pc.ow;
      if ((unsigned long long)ih >= (unsigned long long)pc.h) {
        memset(dst, 0, sizeof(float) * pc.ow);
        continue;
      }
      const float *src = pc.x + (ch * pc.h + ih) * pc.w;
      SINGA_SIMD
      for (long long c = 0; c < pc.ow; ++c) {
        const long long iw = c * pc.sw - pc.pw;
        dst[c] = (unsigned long long)iw < (unsigned long long)pc.w ? src[iw] : 0.f;
      }
    }
    singa_gemm_any(m, n, k, a, lda, sub, n, 0, 0, c, ldc, threads, ep, SINGA_DIRECT_ROWS);
    return;
  }
  if (pc.ow >= 16) {
    const int chans = k / (pc.kh * pc.kw);
    const int wp = (pc.ow - 1) * pc.sw + (pc.kw - 1) * pc.dw + 1;
    pc.hp = (oh - 1) * pc.sh + (pc.kh - 1) * pc.dh + 1;
    pc.wq = (wp + pc.sw - 1) / pc.sw;
    const long long plane = (long long)pc.hp * pc.wq, planes = (long long)chans * pc.sw;
    float *p = planes * plane <= SINGA_PADDED_MAX ? singa_gemm_scratch(planes * plane + 64) : 0;
    if (p) {
      singa_gemm_pad_image(&pc, p, planes, plane, threads);
      pc.p = p;
    }
  }
  singa_gemm_any(m, n, k, a, lda, 0, 0, 0, &pc, c, ldc, threads, ep, SINGA_DIRECT_ROWS);
}
""".replace("@SIZES@", f"enum {{ SINGA_MR = {MR}, SINGA_NR = {NR}, SINGA_KC = {KC}, "
                     f"SINGA_NC = {NC} }};\n#define SINGA_PADDED_MAX {PADDED_MAX}LL\n"
                     f"#define SINGA_PREFETCH_ROWS {PREFETCH_ROWS}\n"
                     f"#define SINGA_DIRECT_ROWS {DIRECT_ROWS}\n"
                     f"#define SINGA_WEIGHT_DIRECT_ROWS {WEIGHT_DIRECT_ROWS}")


def _batch(shape, batch):
    """How an operand's leading dims meet the result's batch: 'all' (one matrix
    per batch item), 'one' (one matrix for all), or None (partly broadcast)."""
    lead = tuple(shape[:-2])
    if math.prod(lead) == 1:
        return "one"
    if lead == tuple(batch[len(batch) - len(lead):]) and math.prod(lead) == math.prod(batch):
        return "all"
    return None


def matmul_kernel(op, types, out):
    """The host GEMM kernel of a float32 MatMul with static shapes, or None."""
    if op.name != "MatMul" or len(types) != 2:
        return None
    ta, tb = types
    if any(t is None or t.dtype.np.name != "float32" for t in (ta, tb, out)):
        return None
    sa, sb = tuple(ta.shape), tuple(tb.shape)
    m = sa[-2] if len(sa) >= 2 else 1
    k = sa[-1]
    n = sb[-1] if len(sb) >= 2 else 1
    if (len(sa) > 2 and len(sb) < 2) or (len(sb) > 2 and len(sa) < 2):
        return None  # a 1-D operand against a stack: rare, left to NumPy
    batch = tuple(out.shape[:-2]) if len(sa) >= 2 and len(sb) >= 2 else ()
    count = math.prod(batch)
    ka, kb = _batch(sa, batch), _batch(sb, batch)
    if ka is None or kb is None or count == 0 or m * n == 0:
        return None
    lines = []
    if kb == "one" and ka == "all":  # a stack times one matrix is one tall product
        m, count, ka = m * count, 1, "one"
    step_a = m * k if ka == "all" else 0
    step_b = k * n if kb == "all" else 0
    per = m * n * k
    # B a weight (one matrix, a param or constant): read in place by more rows
    weight = kb == "one" and op.operands[1] is not None \
        and op.operands[1].kind in ("param", "const")
    call = (f"singa_gemm{'_weight' * weight}({m}, {n}, {k}, a0 + t * {step_a}LL, {k}, "
            f"a1 + t * {step_b}LL, {n}, 0, y + t * {m * n}LL, {n}, @THREADS@, ep);")
    lines += _over_products(count, per, call)
    return _kernel("matmul", op, types, out, lines,
                   f"{count} product(s) of ({m} x {k}) by ({k} x {n})"
                   f"{', a weight' * weight}", count * m * n)


def conv_gemm_kernel(op, types, out, attrs):
    """The host kernel of a float32 ConvGemm (``MatMul(w, Im2Col(x))``, 1-D or 2-D):
    the GEMM packing the columns from the image, one product per image."""
    from ..ops.im2col import im2col_geometry

    tw, tx = types
    if any(t is None or t.dtype.np.name != "float32" for t in (tw, tx, out)) \
            or len(tx.shape) not in (3, 4) or len(tw.shape) != 2:
        return None
    kernel, strides, dilations, pb, outsp = im2col_geometry(tx.shape, attrs)
    n_img, ch = tx.shape[:2]
    sp = tuple(tx.shape[2:])
    if len(sp) == 1:  # a 1-D convolution is a 2-D one over a single row
        sp, kernel, strides, dilations, pb, outsp = ((1,) + sp, (1,) + tuple(kernel),
                                                     (1,) + tuple(strides),
                                                     (1,) + tuple(dilations), (0,) + tuple(pb),
                                                     (1,) + tuple(outsp))
    m, k = tw.shape
    n = outsp[0] * outsp[1]
    if n_img * m * n == 0 or k != ch * kernel[0] * kernel[1]:
        return None
    plane = ch * sp[0] * sp[1]
    geo = ", ".join(str(int(v)) for v in (sp[0], sp[1], kernel[0], kernel[1], strides[0],
                                          strides[1], dilations[0], dilations[1], pb[0], pb[1],
                                          outsp[1]))
    per = m * n * k
    call = (f"{{ const struct singa_conv cv = {{a1 + t * {plane}LL, {geo}}}; "
            f"singa_gemm_conv({m}, {n}, {k}, a0, {k}, &cv, y + t * {m * n}LL, {n}, @THREADS@, "
            f"ep); }}")
    note = (f"{n_img} product(s) of ({m} x {k}) by the ({k} x {n}) columns of a "
            f"{kernel[0]}x{kernel[1]} window")
    if winograd.eligible(kernel, strides, dilations, outsp, ch, m, n_img):
        # the whole batch in one call (the filters transformed once); the direct
        # products where the transformed data find no room
        threads = "omp_get_max_threads()" if n_img * per >= PARALLEL_MIN else "1"
        lines = [f"if (!singa_winograd({n_img}, {m}, {ch}, {sp[0]}, {sp[1]}, {pb[0]}, "
                 f"{pb[1]}, {outsp[0]}, {outsp[1]}, a0, a1, y, {threads}, ep)) {{"]
        lines += ["  " + line for line in _over_products(n_img, per, call)] + ["}"]
        return _kernel("conv_winograd", op, types, out, lines, note + ", by F(2x2, 3x3)",
                       n_img * m * n, support=(SUPPORT, winograd.support()))
    return _kernel("conv_gemm", op, types, out, _over_products(n_img, per, call), note,
                   n_img * m * n)


def _over_products(count: int, per: int, call: str) -> list[str]:
    """C lines making ``count`` products (``call`` with ``@THREADS@`` the threads
    each may use, product ``t``) of
    ``per`` multiply-adds each: one product over the threads, or several split over
    them whole where they share out evenly or are small, else one after another,
    each over the threads."""
    if count == 1:
        return ["const long long t = 0;",
                call.replace("@THREADS@",
                             "omp_get_max_threads()" if per >= PARALLEL_MIN else "1")]
    return ["const int threads = omp_get_max_threads();",
            f"if ({count} % threads == 0 || {count} >= 4 * threads || "
            f"{per}LL < {PARALLEL_MIN}LL) {{",
            "#pragma omp parallel for schedule(static)",
            f"  for (long long t = 0; t < {count}LL; ++t) {call.replace('@THREADS@', '1')}",
            "} else {",
            f"  for (long long t = 0; t < {count}LL; ++t) "
            f"{call.replace('@THREADS@', 'threads')}",
            "}"]


def _kernel(base, op, types, out, lines, note, n, epilogue=True, support=SUPPORT):
    """The Kernel of these C ``lines`` (after ``support``); with ``epilogue`` they
    pass ``ep`` to the product, which :func:`.epilogue.fuse` may point at an
    elementwise group."""
    return host_function(base, op, types, out, [NO_EPILOGUE] * epilogue + lines, note, n,
                         support)


def gemm_kernel(op, types, out, attrs):
    """The host GEMM kernel of a float32 Gemm (A not transposed), or None:
    alpha A B' and then beta C added over the broadcast rows/columns."""
    if op.name != "Gemm" or attrs.get("transA") or any(
            t is None or t.dtype.np.name != "float32" for t in list(types) + [out]):
        return None
    (m, k), (n,) = types[0].shape, out.shape[1:]
    if m * n == 0:
        return None
    tb = int(bool(attrs.get("transB")))
    alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
    if not (math.isfinite(alpha) and math.isfinite(beta)):
        return None
    threads = "omp_get_max_threads()" if m * n * k >= PARALLEL_MIN else "1"
    # B a weight read in place (a transposed B is always packed)
    weight = not tb and op.operands[1] is not None \
        and op.operands[1].kind in ("param", "const")
    lines = [f"singa_gemm{'_weight' * weight}({m}, {n}, {k}, a0, {k}, a1, {k if tb else n}, "
             f"{tb}, y, {n}, {threads}, ep);"]
    c = types[2] if len(types) > 2 else None
    post = alpha != 1.0 or (c is not None and beta != 0.0)
    if post:  # after the product: no epilogue may run before these lines
        lines[0] = lines[0].replace(", ep);", ", 0);")
        terms = ["y[i * %dLL + j]" % n]
        if alpha != 1.0:
            terms[0] = f"{alpha!r}f * {terms[0]}"
        if c is not None and beta != 0.0:
            cs = (1,) * (2 - len(c.shape)) + tuple(c.shape)
            idx = " + ".join([f"i * {cs[1]}LL"] * (cs[0] != 1) + ["j"] * (cs[1] != 1)) or "0"
            terms.append(f"a2[{idx}]" if beta == 1.0 else f"{beta!r}f * a2[{idx}]")
        # over the threads, as the product (on one, GPT-2's bias passes cost 3% of it)
        lines += [f"#pragma omp parallel for if ({threads} > 1 && {m * n}LL > (1LL << 15))",
                  f"for (long long i = 0; i < {m}LL; ++i)",
                  "  SINGA_SIMD",
                  f"  for (long long j = 0; j < {n}LL; ++j) y[i * {n}LL + j] = "
                  + " + ".join(terms) + ";"]
    return _kernel("gemm", op, types, out, lines,
                   f"({m} x {k}) by ({k} x {n}){' (B transposed)' if tb else ''}", m * n,
                   epilogue=not post)
