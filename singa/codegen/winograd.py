"""3x3 convolutions by Winograd's minimal filtering, F(2x2, 3x3) (host dialect).

A stride-1 3x3 convolution computes each 2x2 block of outputs from a 4x4 patch
of its input with 16 multiplies per (output, input) channel pair where the
definition takes 36: the patch and the filter are each transformed (``B^T d B``,
``G g G^T``), multiplied elementwise, and the 4x4 product transformed back
(``A^T m A``).  Over all channels the 16 elementwise products are 16 matrix
products, (M x C) by (C x tiles), which the GEMM of :mod:`.gemm` makes; so the
multiply-adds are 4/9 of the direct convolution's, for three passes over the
transformed data.  The weights are transformed on every call (once for a
batch): the caller's weights may change between runs.  Threads each make a
part end to end (see ``singa_winograd``).  Worth it where channels and tiles are many
(the transforms are C x 16 x tiles, M x 16 x tiles and M x C x 16 floats, the
products M x C x 16 x tiles multiply-adds): see :func:`eligible`; measured on 2
Zen 4 cores, 1.5-1.6x faster than the direct product from 64 channels at
56x56 or 28x28.

The rounding differs from the direct sum: the transforms add and subtract inputs
of either sign before the products (errors a few times the direct ones, far
inside float32 test tolerances, as everywhere Winograd is used for inference).
"""

from __future__ import annotations

MIN_TILES = 64
FEW_TILES = 49
MANY_TILES = 256
# threads split a batch's rows of tiles (rather than the filters) from this many
# tiles per filter
ROWS_OVER_FILTERS = 4
# floats of V and P made at a time at most (a 32-channel 112x112 image: 1.15x faster
# in chunks of 12 tile rows than whole; smaller chunks make the products narrow)
CHUNK = 1 << 20
# floats of transformed data (weights, patches, products, padded image) at most
SCRATCH_MAX = 1 << 25

SUPPORT = r"""
/* rows [u0, u1) of 2x2 output tiles, counted over the whole batch (tile row i of
   image b is row b * TH + i), of y = the 3x3, stride 1 convolution of x (images
   of C x H x W, zero-padded by ph rows above and pw columns left) with w (M x C x
   3 x 3), by F(2x2, 3x3), on this thread; y's images lie ``yimg`` floats apart
   (a part of the filters writes a part of each image).  In this thread's scratch:
   U (M x 16 x C), then for the tile rows of one image at a time V (C x 16 x T), P
   (M x 16 x T) and the padded image rows, with their even and odd columns apart
   (singa_gemm_pad_image, stride 2), so every 4x4 patch of a row of tiles is read
   by contiguous loads; matrix e of U, V and P is every 16th row block, so that a
   filter's, a patch's or a tile's 16 values lie close together.  Every loop over
   filters or tiles is written for the vectoriser (scalars, no arrays, no
   branches).  The epilogue runs on each channel's rows once they are final.
   Returns 0, having written nothing, where the scratch would pass
   SINGA_WINOGRAD_MAX floats or find no room. */
/* the tile rows a part of ``units`` rows makes at a time: an image's, or fewer
   where their V and P would pass SINGA_WG_CHUNK floats (see CHUNK) */
static int singa_winograd_rows(long long units, int th, int tw, int c, int m) {
  const long long fit = SINGA_WG_CHUNK / (16LL * (c + m) * tw);
  int rows = units < th ? (int)units : th;
  return rows <= fit ? rows : fit > 0 ? (int)fit : 1;
}

/* floats of scratch a part of m filters over C channels needs, making ``rows``
   rows of ``tw`` tiles at a time: U, V, P, the padded image rows, 64 spare */
static long long singa_winograd_need(long long m, long long c, long long rows, long long tw) {
  return 16 * m * (c + 16) + 16 * c * rows * tw + 16 * m * rows * tw
         + 2 * c * (2 * rows + 2) * (tw + 1) + 64;
}

static int singa_winograd_part(int m, int c, int h, int w, int ph, int pw, int oh, int ow,
                               long long u0, long long u1, const float *restrict wt,
                               const float *restrict x, float *restrict y, long long yimg,
                               const struct singa_ep *ep) {
  const int th = (oh + 1) / 2, tw = (ow + 1) / 2;
  const int rows = singa_winograd_rows(u1 - u0, th, tw, c, m);  /* tile rows at a time */
  const long long most = (long long)rows * tw;
  const long long need = singa_winograd_need(m, c, rows, tw);
  if (need > SINGA_WINOGRAD_MAX) return 0;
  float *u = singa_gemm_scratch(need);
  if (!u) return 0;
  /* U's 16 matrices cs = C + 16 floats apart in a row, not C: at a power of two
     apart the 16 values a filter's transform writes all fell in one set of L1
     (YOLO's 1024 x 1024 filters: 4x slower), as did a GEMM tile's rows of A
     (ResNet-50's 128-channel layers 1.02x slower) */
  const long long cs = c + 16, ldu = 16 * cs;
  float *v = u + m * ldu, *p = v + 16 * c * most, *img = p + 16 * m * most;
  /* U = G g G^T for every filter g: rows of G g, then each row times G^T */
#define SINGA_WG_ROW(i, a, b, d) \
  ur[(4 * i) * cs + k] = a; ur[(4 * i + 1) * cs + k] = 0.5f * (a + b + d); \
  ur[(4 * i + 2) * cs + k] = 0.5f * (a - b + d); ur[(4 * i + 3) * cs + k] = d;
  for (int mm = 0; mm < m; ++mm) {
    const float *g = wt + (long long)mm * c * 9;
    float *ur = u + mm * ldu;
    SINGA_SIMD
    for (long long k = 0; k < c; ++k) {
      const float g00 = g[9 * k], g01 = g[9 * k + 1], g02 = g[9 * k + 2];
      const float g10 = g[9 * k + 3], g11 = g[9 * k + 4], g12 = g[9 * k + 5];
      const float g20 = g[9 * k + 6], g21 = g[9 * k + 7], g22 = g[9 * k + 8];
      SINGA_WG_ROW(0, g00, g01, g02)
      SINGA_WG_ROW(1, 0.5f * (g00 + g10 + g20), 0.5f * (g01 + g11 + g21),
                   0.5f * (g02 + g12 + g22))
      SINGA_WG_ROW(2, 0.5f * (g00 - g10 + g20), 0.5f * (g01 - g11 + g21),
                   0.5f * (g02 - g12 + g22))
      SINGA_WG_ROW(3, g20, g21, g22)
    }
  }
#undef SINGA_WG_ROW
  for (long long at = u0; at < u1;) {  /* the tile rows [i0, i1) of image b */
    const long long b = at / th;
    const int i0 = (int)(at - b * th);
    int i1 = u1 - b * th < th ? (int)(u1 - b * th) : th;
    i1 = i1 < i0 + rows ? i1 : i0 + rows;
    at = b * th + i1;
    const int n = i1 - i0, r0 = 2 * i0, r1 = 2 * i1 < oh ? 2 * i1 : oh;
    const long long t = (long long)n * tw;
    /* these rows' padded image: the image shifted up by r0 rows */
    struct singa_conv pc = {x + b * c * h * w, h, w, 3, 3, 1, 2, 1, 1, ph - r0, pw, 2 * tw};
    pc.hp = 2 * n + 2;
    pc.wq = tw + 1;
    const long long pl = (long long)pc.hp * pc.wq;
    singa_gemm_pad_image(&pc, img, 2LL * c, pl, 1);
    /* V = B^T d B for every 4x4 patch d (tile row i: padded rows 2i..2i+3) */
    for (long long q = 0; q < (long long)c * n; ++q) {
      const int ch = (int)(q / n), i = (int)(q % n);
      const float *ev = img + 2 * ch * pl + 2LL * i * pc.wq, *od = ev + pl;
      float *vq = v + 16LL * ch * t + (long long)i * tw;
      const long long w0 = pc.wq;
      /* column s of the patch (rows 0..3) -> column s of B^T d (b0s..b3s) */
#define SINGA_WG_COL(s, src, at) \
      const float d0##s = src[at], d1##s = src[w0 + at], d2##s = src[2 * w0 + at]; \
      const float d3##s = src[3 * w0 + at]; \
      const float b0##s = d0##s - d2##s, b1##s = d1##s + d2##s, b2##s = d2##s - d1##s; \
      const float b3##s = d1##s - d3##s;
      /* row r of (B^T d) B: four entries of V, each its own matrix */
#define SINGA_WG_OUT(r) \
      vq[(4 * r) * t + j] = b##r##0 - b##r##2; vq[(4 * r + 1) * t + j] = b##r##1 + b##r##2; \
      vq[(4 * r + 2) * t + j] = b##r##2 - b##r##1; vq[(4 * r + 3) * t + j] = b##r##1 - b##r##3;
      SINGA_SIMD
      for (long long j = 0; j < tw; ++j) {
        SINGA_WG_COL(0, ev, j) SINGA_WG_COL(1, od, j)
        SINGA_WG_COL(2, ev, j + 1) SINGA_WG_COL(3, od, j + 1)
        SINGA_WG_OUT(0) SINGA_WG_OUT(1) SINGA_WG_OUT(2) SINGA_WG_OUT(3)
      }
#undef SINGA_WG_COL
#undef SINGA_WG_OUT
    }
    /* the 16 products P_e (M x T) = U_e (M x C) V_e (C x T) */
    for (int e = 0; e < 16; ++e)
      singa_gemm(m, (int)t, c, u + e * cs, ldu, v + e * t, 16 * t, 0, p + e * t, 16 * t,
                 1, 0);
    /* y = A^T p A for every tile, a channel at a time, then its epilogue */
    for (int mm = 0; mm < m; ++mm) {
      float *yp = y + b * yimg + (long long)mm * oh * ow + (long long)r0 * ow;
      float e0[tw], o0[tw], e1[tw], o1[tw];
      for (int i = 0; i < n; ++i) {
        const float *pq = p + 16LL * mm * t + (long long)i * tw;
        SINGA_SIMD
        for (long long j = 0; j < tw; ++j) {
          float a0[4], a1[4];
          for (int s = 0; s < 4; ++s) {
            const float q0 = pq[s * t + j], q1 = pq[(4 + s) * t + j];
            const float q2 = pq[(8 + s) * t + j], q3 = pq[(12 + s) * t + j];
            a0[s] = q0 + q1 + q2;
            a1[s] = q1 - q2 - q3;
          }
          e0[j] = a0[0] + a0[1] + a0[2]; o0[j] = a0[1] - a0[2] - a0[3];
          e1[j] = a1[0] + a1[1] + a1[2]; o1[j] = a1[1] - a1[2] - a1[3];
        }
        float *y0 = yp + 2LL * i * ow, *y1 = y0 + ow;
        for (long long j = 0; j < ow / 2; ++j) { y0[2 * j] = e0[j]; y0[2 * j + 1] = o0[j]; }
        if (ow % 2) y0[ow - 1] = e0[tw - 1];
        if (r0 + 2 * i + 1 < oh) {
          for (long long j = 0; j < ow / 2; ++j) { y1[2 * j] = e1[j]; y1[2 * j + 1] = o1[j]; }
          if (ow % 2) y1[ow - 1] = e1[tw - 1];
        }
      }
      singa_gemm_ep_rows(ep, yp, 0, 0, 1, 0, (r1 - r0) * ow);
    }
  }
  return 1;
}

/* y (a batch of ``images`` M x OH x OW) = the 3x3, stride 1 convolution of x
   (images of C x H x W, zero-padded by ph rows above and pw columns left) with w,
   by F(2x2, 3x3), on up to ``threads`` threads: each makes its part end to end
   (singa_winograd_part) from the caller's x and w, in its own scratch, so that no
   thread reads what another wrote.  The vCPUs of a VM may share no cache (a round
   trip of a cache line between them then costs 300-1000 ns rather than 50-80):
   handing the transformed data from thread to thread made these layers 1.7-2x
   slower there than here.  A part is either some rows of tiles of the batch, each
   thread then transforming every filter, or some of the filters, each thread then
   transforming (and packing) every patch.  Rows where the tiles are at least
   SINGA_WG_ROWS_OVER_FILTERS times the filters (64 filters at 56x56: 1.15x faster
   than by filters; 128 at 28x28: 1.1x slower), filters otherwise.  The filters are
   transformed once per call, not per image.  Returns 0 where a part's
   scratch would pass SINGA_WINOGRAD_MAX floats or find no room, nothing written. */
static int singa_winograd(int images, int m, int c, int h, int w, int ph, int pw, int oh,
                          int ow, const float *restrict wt, const float *restrict x,
                          float *restrict y, int threads, const struct singa_ep *ep) {
  const int th = (oh + 1) / 2, tw = (ow + 1) / 2, mp = (m + SINGA_MR - 1) / SINGA_MR;
  const long long units = (long long)images * th, yimg = (long long)m * oh * ow;
  const int by_rows = units * tw >= (long long)SINGA_WG_ROWS_OVER_FILTERS * m;
  const long long most = by_rows ? units : mp;
  const int parts = threads < most ? threads : (int)most;
  if (parts <= 1)
    return singa_winograd_part(m, c, h, w, ph, pw, oh, ow, 0, units, wt, x, y, yimg, ep);
  /* the most a part needs */
  const long long fm = by_rows ? m : (mp + parts - 1) / parts * SINGA_MR;
  const long long rows = singa_winograd_rows(by_rows ? (units + parts - 1) / parts : units, th,
                                             tw, c, (int)fm);
  const long long need = singa_winograd_need(fm, c, rows, tw);
  if (need > SINGA_WINOGRAD_MAX) return 0;
  int ok = 1;
#pragma omp parallel num_threads(parts)
  {
    const int q = omp_get_thread_num(), n = omp_get_num_threads();
    /* every thread's scratch first: a part that found no room fails them all */
    if (!singa_gemm_scratch(need)) {
#pragma omp atomic write
      ok = 0;
    }
#pragma omp barrier
    if (ok && by_rows) {
      singa_winograd_part(m, c, h, w, ph, pw, oh, ow, units * q / n, units * (q + 1) / n, wt,
                          x, y, yimg, ep);
    } else if (ok) {
      const int m0 = (int)((long long)mp * q / n) * SINGA_MR;
      const int m1 = (int)((long long)mp * (q + 1) / n) * SINGA_MR;
      singa_winograd_part((m1 < m ? m1 : m) - m0, c, h, w, ph, pw, oh, ow, 0, units,
                          wt + (long long)m0 * c * 9, x, y + (long long)m0 * oh * ow, yimg,
                          ep);
    }
  }
  return ok;
}
"""


def eligible(kernel, strides, dilations, out_spatial, channels: int, filters: int,
             images: int = 1) -> bool:
    """Whether a 2-D convolution of this geometry runs by F(2x2, 3x3) here: 3x3,
    stride and dilation 1, and enough work per transformed value (measured on two
    cores against the direct product):

    - 32 channels and filters or more, and ``MIN_TILES`` tiles: 1.2-1.6x; at 49
      tiles (14x14 outputs) only channels from 128 and up to 2^19 channel-filter pairs
      an image (128 x 128: 1.3x; 48 x 192: 0.9x; 256 x 512, YOLO's: 1.15x; VGG's 512
      x 512: 1.28x; 512 x 1024: 1.06x; 1024 x 1024: 0.94x, but over 8 images, the
      filters transformed once, 1.1x);
    - 16 to 31 channels with 64 filters or more, and ``MANY_TILES`` tiles
      (16 -> 64 at 56x56: 1.1-1.2x; at 28x28: 1.0x; 16 -> 16 or 32: 0.8-0.9x);
    - never with fewer (3 channels: 0.3x)."""
    if tuple(kernel) != (3, 3) or tuple(strides) != (1, 1) or tuple(dilations) != (1, 1):
        return False
    oh, ow = out_spatial
    tiles = ((oh + 1) // 2) * ((ow + 1) // 2)
    if channels >= 32 and filters >= 32:
        return tiles >= MIN_TILES or (tiles >= FEW_TILES and channels >= 128
                                      and channels * filters <= (1 << 19) * images)
    return channels >= 16 and filters >= 64 and tiles >= MANY_TILES


def support() -> str:
    return SUPPORT.replace("SINGA_WINOGRAD_MAX", f"{SCRATCH_MAX}LL").replace(
        "SINGA_WG_ROWS_OVER_FILTERS", str(ROWS_OVER_FILTERS)).replace(
        "SINGA_WG_CHUNK", f"{CHUNK}LL")
