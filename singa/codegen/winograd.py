"""3x3 convolutions by Winograd's minimal filtering, F(2x2, 3x3) (host dialect).

A stride-1 3x3 convolution computes each 2x2 block of outputs from a 4x4 patch
of its input with 16 multiplies per (output, input) channel pair where the
definition takes 36: the patch and the filter are each transformed (``B^T d B``,
``G g G^T``), multiplied elementwise, and the 4x4 product transformed back
(``A^T m A``).  Over all channels the 16 elementwise products are 16 matrix
products, (M x C) by (C x tiles), which the GEMM of :mod:`.gemm` makes; so the
multiply-adds are 4/9 of the direct convolution's, for three passes over the
transformed data.  The weights are transformed on every call: the caller's
weights may change between runs.  Worth it where channels and tiles are many
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
# floats of transformed data (weights, patches, products, padded image) at most
SCRATCH_MAX = 1 << 25

SUPPORT = r"""
/* y (M x OH x OW) = the 3x3, stride 1 convolution of x (C x H x W, zero-padded by
   ph rows above and pw columns left) with w (M x C x 3 x 3), by F(2x2, 3x3):
   scratch holds U (M x 16 x C), V (C x 16 x T), P (M x 16 x T): matrix e of each
   is every 16th row block, so that a filter's, a patch's or a tile's 16 values lie
   close together; and the padded image with its even and odd columns apart
   (singa_gemm_pad_image, stride 2), so every 4x4 patch of a row of tiles is read
   by contiguous loads; T = TH x TW tiles of 2x2 outputs.  Every loop over filters
   or tiles is written for the vectoriser (scalars, no arrays, no branches).  The
   epilogue runs on each channel's plane once it is final.  Returns 0 where the scratch would pass
   SINGA_WINOGRAD_MAX floats or find no room. */
static int singa_winograd(int m, int c, int h, int w, int ph, int pw, int oh, int ow,
                          const float *restrict wt, const float *restrict x, float *restrict y,
                          int threads, const struct singa_ep *ep) {
  const int th = (oh + 1) / 2, tw = (ow + 1) / 2;
  struct singa_conv pc = {x, h, w, 3, 3, 1, 2, 1, 1, ph, pw, 2 * tw};
  pc.hp = 2 * th + 2;
  pc.wq = tw + 1;
  const long long t = (long long)th * tw, plane = (long long)pc.hp * pc.wq;
  const long long mc = (long long)m * c, ct = (long long)c * t, mt = (long long)m * t;
  const long long need = 16 * mc + 16 * ct + 16 * mt + 2 * c * plane + 64;
  if (need > SINGA_WINOGRAD_MAX) return 0;
  float *u = singa_gemm_scratch(need);
  if (!u) return 0;
  float *v = u + 16 * mc, *p = v + 16 * ct, *img = p + 16 * mt;
  singa_gemm_pad_image(&pc, img, 2LL * c, plane, threads);
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    /* U = G g G^T for every filter g: rows of G g, then each row times G^T */
#define SINGA_WG_ROW(i, a, b, d) \
      ur[(4 * i) * c + k] = a; ur[(4 * i + 1) * c + k] = 0.5f * (a + b + d); \
      ur[(4 * i + 2) * c + k] = 0.5f * (a - b + d); ur[(4 * i + 3) * c + k] = d;
#pragma omp for schedule(static)
    for (int mm = 0; mm < m; ++mm) {
      const float *g = wt + (long long)mm * c * 9;
      float *ur = u + 16LL * mm * c;
      SINGA_SIMD
      for (int k = 0; k < c; ++k) {
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
    /* V = B^T d B for every 4x4 patch d (tile row i: padded rows 2i..2i+3) */
#pragma omp for schedule(static)
    for (long long q = 0; q < (long long)c * th; ++q) {
      const int ch = (int)(q / th), i = (int)(q % th);
      const float *ev = img + 2 * ch * plane + 2LL * i * pc.wq, *od = ev + plane;
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
      for (int j = 0; j < tw; ++j) {
        SINGA_WG_COL(0, ev, j) SINGA_WG_COL(1, od, j)
        SINGA_WG_COL(2, ev, j + 1) SINGA_WG_COL(3, od, j + 1)
        SINGA_WG_OUT(0) SINGA_WG_OUT(1) SINGA_WG_OUT(2) SINGA_WG_OUT(3)
      }
#undef SINGA_WG_COL
#undef SINGA_WG_OUT
    }
    /* the 16 products P_e (M x T) = U_e (M x C) V_e (C x T), whole on each thread */
#pragma omp for schedule(static)
    for (int e = 0; e < 16; ++e)
      singa_gemm(m, (int)t, c, u + e * c, 16LL * c, v + e * t, 16 * t, 0, p + e * t, 16 * t,
                 1, 0);
    /* y = A^T p A for every tile, a channel at a time, then its epilogue */
#pragma omp for schedule(static)
    for (int mm = 0; mm < m; ++mm) {
      float *yp = y + (long long)mm * oh * ow;
      float e0[tw], o0[tw], e1[tw], o1[tw];
      for (int i = 0; i < th; ++i) {
        const float *pq = p + 16LL * mm * t + (long long)i * tw;
        SINGA_SIMD
        for (int j = 0; j < tw; ++j) {
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
        for (int j = 0; j < ow / 2; ++j) { y0[2 * j] = e0[j]; y0[2 * j + 1] = o0[j]; }
        if (ow % 2) y0[ow - 1] = e0[tw - 1];
        if (2 * i + 1 < oh) {
          for (int j = 0; j < ow / 2; ++j) { y1[2 * j] = e1[j]; y1[2 * j + 1] = o1[j]; }
          if (ow % 2) y1[ow - 1] = e1[tw - 1];
        }
      }
      singa_gemm_ep_rows(ep, y, (long long)oh * ow, mm, mm + 1, 0, oh * ow);
    }
  }
  return 1;
}
"""


def eligible(kernel, strides, dilations, out_spatial, channels: int, filters: int) -> bool:
    """Whether a 2-D convolution of this geometry runs by F(2x2, 3x3) here: 3x3,
    stride and dilation 1, and enough work per transformed value (measured on two
    cores against the direct product):

    - 32 channels and filters or more, and ``MIN_TILES`` tiles: 1.2-1.6x; at 49
      tiles (14x14 outputs) only channels from 128 and filters up to 256 x 256
      (128 x 128: 1.3x; 48 x 192: 0.9x; 256 x 512: 0.9x);
    - 16 to 31 channels with 64 filters or more, and ``MANY_TILES`` tiles
      (16 -> 64 at 56x56: 1.1-1.2x; at 28x28: 1.0x; 16 -> 16 or 32: 0.8-0.9x);
    - never with fewer (3 channels: 0.3x)."""
    if tuple(kernel) != (3, 3) or tuple(strides) != (1, 1) or tuple(dilations) != (1, 1):
        return False
    oh, ow = out_spatial
    tiles = ((oh + 1) // 2) * ((ow + 1) // 2)
    if channels >= 32 and filters >= 32:
        return tiles >= MIN_TILES or (tiles >= FEW_TILES and channels >= 128
                                      and channels * filters <= 1 << 16)
    return channels >= 16 and filters >= 64 and tiles >= MANY_TILES


def support() -> str:
    return SUPPORT.replace("SINGA_WINOGRAD_MAX", f"{SCRATCH_MAX}LL")
