/* Batch norm (batch statistics) + ReLU of the population Conv4, forward and backward, each fused into few passes.
 *
 * The arithmetic of the PyTorch path in reptile/engine/network.py, with fewer passes over memory: that path spends
 * about as long in a dozen elementwise operations per layer as in the matrix multiplies. Loaded by
 * reptile/engine/fused.py with ctypes and compiled there on first use. Plain C99.
 *
 * Layout (see network.py): the pre-activations z are (S, G, R, C) contiguous, R = B * H * W rows of C channels per
 * (member s, group g); the ReLU outputs a and their gradients da are (S, N = G * B, H, W, C) with any strides but a
 * unit one on C (they live inside the next layer's padded buffer). Statistics are per (s, g, c) over the R rows,
 * accumulated in double. This file includes itself once per element type (T = float, then double). With OpenMP
(PyTorch's own runtime, already loaded) the work is split over the threads PyTorch uses; each number is computed by
one thread in a fixed order, so the results do not depend on the thread count.
 */
#ifndef T
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    int64_t S, G, B, H, W, C;
    int64_t sS, sN, sH, sW; /* strides (elements) of a */
    int64_t dS, dN, dH, dW; /* strides (elements) of da */
} shape_t;

/* A stride-2 3x3 convolution's input (S, N, H, W, C) and output (o x o), with TF 'SAME' padding top / left. */
typedef struct {
    int64_t S, N, H, W, C, o, top, left;
} conv_t;

#define T float
#define NAME(f) f##_f32
#define FMA fmaf
#define SQRT sqrtf
#include "fused.c"
#undef T
#undef NAME
#undef FMA
#undef SQRT
#define T double
#define NAME(f) f##_f64
#define FMA fma
#define SQRT sqrt
#include "fused.c"
#undef T
#undef NAME
#undef FMA
#undef SQRT

#else

/* Channels per block: one (member, group, block of channels) is one thread's work, so blocks are split while there are
 * fewer units than threads (down to 16 channels, a cache line of floats). With one thread, one block. */
static int64_t NAME(blocks)(int64_t units, int64_t C, int threads) {
    int64_t nb = 1;
    while (units * nb < threads && (C / nb) % 2 == 0 && C / (nb * 2) >= 16) nb *= 2;
    return nb;
}

/* The bodies below take the block's channel count cw as an argument and are inlined into callers that pass a
 * constant for the usual widths (64 channels, one block: one thread), so that the compiler keeps each row's
 * accumulators in vector registers rather than in a stack array of unknown length. Every sum still runs over the
 * rows in order, one channel per lane, so the numbers do not depend on the width chosen. */
static inline __attribute__((always_inline)) void NAME(bn_fwd_block)(const shape_t *sh, T *z, T *inv, T *a,
        const T *gamma, const T *beta, double eps, int64_t sg, int64_t c0, const int64_t cw) {
    const int64_t C = sh->C, R = sh->B * sh->H * sh->W;
    const int64_t s = sg / sh->G, g = sg % sh->G;
    const T *ga = gamma + s * C + c0, *be = beta + s * C + c0;
    T *zg = z + sg * R * C + c0;
    double acc[cw];
    T mean[cw], iv[cw];
    for (int64_t c = 0; c < cw; c++) acc[c] = 0;
    for (int64_t r = 0; r < R; r++)
        for (int64_t c = 0; c < cw; c++) acc[c] += zg[r * C + c];
    for (int64_t c = 0; c < cw; c++) mean[c] = (T)(acc[c] / R);
    for (int64_t c = 0; c < cw; c++) acc[c] = 0;
    for (int64_t r = 0; r < R; r++)
        for (int64_t c = 0; c < cw; c++) {
            const T d = zg[r * C + c] - mean[c];
            acc[c] += (double)d * d;
        }
    for (int64_t c = 0; c < cw; c++) {
        iv[c] = (T)(1.0 / sqrt(acc[c] / R + eps));
        inv[sg * C + c0 + c] = iv[c];
    }
    T *zr = zg;
    for (int64_t b = 0; b < sh->B; b++)
        for (int64_t h = 0; h < sh->H; h++)
            for (int64_t w = 0; w < sh->W; w++, zr += C) {
                T *restrict ar = a + s * sh->sS + (g * sh->B + b) * sh->sN + h * sh->sH + w * sh->sW + c0;
                for (int64_t c = 0; c < cw; c++) {
                    const T x = (zr[c] - mean[c]) * iv[c];
                    const T y = be[c] + x * ga[c];
                    zr[c] = x;
                    ar[c] = y > 0 ? y : 0;
                }
            }
}

/* Forward: xhat = (z - mean) * inv, written over z; inv = 1 / sqrt(var + eps) (S, G, C);
 * a = max(0, beta + xhat * gamma). */
void NAME(bn_relu_forward)(const shape_t *sh, T *z, T *inv, T *a, const T *gamma, const T *beta, double eps,
                           int threads) {
    const int64_t C = sh->C, SG = sh->S * sh->G;
    const int64_t nb = NAME(blocks)(SG, C, threads), cw = C / nb;
#pragma omp parallel for collapse(2) schedule(static) num_threads(threads) if (threads > 1)
    for (int64_t sg = 0; sg < SG; sg++)
        for (int64_t blk = 0; blk < nb; blk++) {
            if (cw == 64)
                NAME(bn_fwd_block)(sh, z, inv, a, gamma, beta, eps, sg, blk * cw, 64);
            else if (cw == 32)
                NAME(bn_fwd_block)(sh, z, inv, a, gamma, beta, eps, sg, blk * cw, 32);
            else if (cw == 16)
                NAME(bn_fwd_block)(sh, z, inv, a, gamma, beta, eps, sg, blk * cw, 16);
            else
                NAME(bn_fwd_block)(sh, z, inv, a, gamma, beta, eps, sg, blk * cw, cw);
        }
}

static inline __attribute__((always_inline)) void NAME(bn_bwd_block)(const shape_t *sh, const T *da, const T *a,
        const T *xhat, const T *inv, const T *gamma, T *dz, T *dgamma_total, T *dbeta_total, int64_t s, int64_t c0,
        const int64_t cw) {
    const int64_t C = sh->C, R = sh->B * sh->H * sh->W;
    double db[cw], dg[cw];
    T c1[cw], k0[cw], k1[cw];
    for (int64_t c = 0; c < cw; c++) dgamma_total[s * C + c0 + c] = dbeta_total[s * C + c0 + c] = 0;
    for (int64_t g = 0; g < sh->G; g++) {
        const int64_t sg = s * sh->G + g;
        const T *xg = xhat + sg * R * C + c0;
        T *dzg = dz + sg * R * C + c0;
        for (int64_t c = 0; c < cw; c++) db[c] = dg[c] = 0;
        const T *xr = xg;
        for (int64_t b = 0; b < sh->B; b++)
            for (int64_t h = 0; h < sh->H; h++)
                for (int64_t w = 0; w < sh->W; w++, xr += C) {
                    const int64_t n = g * sh->B + b;
                    const T *restrict dar = da + s * sh->dS + n * sh->dN + h * sh->dH + w * sh->dW + c0;
                    const T *restrict arr = a + s * sh->sS + n * sh->sN + h * sh->sH + w * sh->sW + c0;
                    for (int64_t c = 0; c < cw; c++) {
                        const T d = dar[c], dy = arr[c] > 0 ? d : 0;
                        db[c] += dy;
                        dg[c] += (double)dy * xr[c];
                    }
                }
        for (int64_t c = 0; c < cw; c++) {
            dbeta_total[s * C + c0 + c] += (T)db[c];
            dgamma_total[s * C + c0 + c] += (T)dg[c];
            c1[c] = gamma[s * C + c0 + c] * inv[sg * C + c0 + c];
            k0[c] = -c1[c] * (T)db[c] / (T)R;
            k1[c] = -c1[c] * (T)dg[c] / (T)R;
        }
        xr = xg;
        T *dzr = dzg;
        for (int64_t b = 0; b < sh->B; b++)
            for (int64_t h = 0; h < sh->H; h++)
                for (int64_t w = 0; w < sh->W; w++, xr += C, dzr += C) {
                    const int64_t n = g * sh->B + b;
                    const T *restrict dar = da + s * sh->dS + n * sh->dN + h * sh->dH + w * sh->dW + c0;
                    const T *restrict arr = a + s * sh->sS + n * sh->sN + h * sh->sH + w * sh->sW + c0;
                    T *restrict dzw = dzr;
                    for (int64_t c = 0; c < cw; c++) {
                        const T dy = arr[c] > 0 ? dar[c] : 0;
                        dzw[c] = k0[c] + dy * c1[c] + xr[c] * k1[c];
                    }
                }
    }
}

/* Backward: dy = da where a > 0, else 0; per group dbeta = sum dy and dgamma = sum dy * xhat, also summed over the
 * groups into dbeta_total and dgamma_total (S, C); dz = c1 dy - c1 dbeta / R - xhat c1 dgamma / R, c1 = gamma inv,
 * written (S, G, R, C) contiguous. A thread owns a (member, block of channels) and its groups, in order. */
void NAME(bn_relu_backward)(const shape_t *sh, const T *da, const T *a, const T *xhat, const T *inv, const T *gamma,
                            T *dz, T *dgamma_total, T *dbeta_total, int threads) {
    const int64_t C = sh->C;
    const int64_t nb = NAME(blocks)(sh->S, C, threads), cw = C / nb;
#pragma omp parallel for collapse(2) schedule(static) num_threads(threads) if (threads > 1)
    for (int64_t s = 0; s < sh->S; s++)
        for (int64_t blk = 0; blk < nb; blk++) {
            if (cw == 64)
                NAME(bn_bwd_block)(sh, da, a, xhat, inv, gamma, dz, dgamma_total, dbeta_total, s, blk * cw, 64);
            else if (cw == 32)
                NAME(bn_bwd_block)(sh, da, a, xhat, inv, gamma, dz, dgamma_total, dbeta_total, s, blk * cw, 32);
            else if (cw == 16)
                NAME(bn_bwd_block)(sh, da, a, xhat, inv, gamma, dz, dgamma_total, dbeta_total, s, blk * cw, 16);
            else
                NAME(bn_bwd_block)(sh, da, a, xhat, inv, gamma, dz, dgamma_total, dbeta_total, s, blk * cw, cw);
        }
}

/* im2col of a stride-2 3x3 convolution: the patches cols (S, N, o, o, 9 C) in (kh, kw, C) order from the padded input
 * ap (S, N, H, W, C), contiguous, H = W = 2 o + 1 here (cv->H, cv->W are the padded sizes). Channels-last, the
 * three pixels of one kernel row are 3 C consecutive numbers of ap, so a patch is three copies. */
void NAME(im2col)(const conv_t *cv, const T *ap, T *cols, int threads) {
    const int64_t C = cv->C, o = cv->o, row = 9 * C;
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (int64_t sn = 0; sn < cv->S * cv->N; sn++)
        for (int64_t oy = 0; oy < o; oy++)
            for (int64_t ox = 0; ox < o; ox++) {
                T *dst = cols + ((sn * o + oy) * o + ox) * row;
                for (int64_t i = 0; i < 3; i++)
                    memcpy(dst + i * 3 * C, ap + ((sn * cv->H + 2 * oy + i) * cv->W + 2 * ox) * C, 3 * C * sizeof(T));
            }
}

/* col2im of a stride-2 3x3 convolution: the input gradient dx (S, N, H, W, C), contiguous, from cols (S, N, o, o, 9 C)
 * = dz @ kernel^T, whose column block (i, j) is what output pixel (oy, ox) sends to padded input pixel
 * (2 oy + i, 2 ox + j). Each input pixel gathers its (at most four) contributions, in (i, j) order, and is written
 * once. */
void NAME(col2im)(const conv_t *cv, const T *cols, T *dx, int threads) {
    const int64_t C = cv->C, o = cv->o, row = 9 * C;
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (int64_t sn = 0; sn < cv->S * cv->N; sn++) {
        T acc[C];
        const T *src = cols + sn * o * o * row;
        for (int64_t y = 0; y < cv->H; y++)
            for (int64_t x = 0; x < cv->W; x++) {
                const int64_t py = y + cv->top, px = x + cv->left;
                memset(acc, 0, sizeof acc);
                for (int64_t i = py & 1; i < 3; i += 2) {
                    const int64_t oy = (py - i) / 2;
                    if (oy < 0 || oy >= o) continue;
                    for (int64_t j = px & 1; j < 3; j += 2) {
                        const int64_t ox = (px - j) / 2;
                        if (ox < 0 || ox >= o) continue;
                        const T *restrict in = src + (oy * o + ox) * row + (3 * i + j) * C;
                        for (int64_t c = 0; c < C; c++) acc[c] += in[c];
                    }
                }
                memcpy(dx + ((sn * cv->H + y) * cv->W + x) * C, acc, sizeof acc);
            }
    }
}

/* The inner Adam step with beta1 = 0 (the few-shot runs: the first moment is the gradient itself), in one pass:
 * v = fma(c2 g, g, b2 v); w = fma(neg_lr g, 1 / ..., w) as below, where c2 = 1 - b2 and neg_lr = -lr_t. The
 * operations, their order and their one fused multiply-add are those of PyTorch's CPU kernels for mul_, addcmul_,
 * sqrt, add_ and addcdiv_ on T (C99 contracts nothing else), so the numbers are theirs bit for bit
 * (tests/test_fused.py). */
void NAME(adam_b1zero)(int64_t n, T *w, const T *g, T *v, double b2, double c2, double neg_lr, double eps,
                       int threads) {
    const T b2t = (T)b2, c2t = (T)c2, lrt = (T)neg_lr, epst = (T)eps;
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && n > 65536)
    for (int64_t i = 0; i < n; i++) {
        const T vi = FMA(c2t * g[i], g[i], v[i] * b2t);
        v[i] = vi;
        const T d = SQRT(vi) + epst;
        w[i] = w[i] + lrt * g[i] / d;
    }
}

/* MAML's Hessian-vector product (reptile/maml/population.py): the directional derivative (R-operator) of batch norm
 * + ReLU, forward and backward, for one group per member (G = 1, R = B H W rows). u = R{z} and rxhat, da, rda, dz
 * and rdz are (S, R, C) contiguous; a, the ReLU's output (its sign is the ReLU's derivative), has a's strides as in
 * bn_relu_forward. The sums over rows accumulate in double, one channel per lane, in row order. */
static inline __attribute__((always_inline)) void NAME(rop_fwd_block)(const shape_t *sh, T *u, const T *xhat,
        const T *inv, const T *a, const T *gamma, const T *rgamma, const T *rbeta, T *ra, T *rinv, int64_t s,
        const int64_t cw) {
    const int64_t C = sh->C, R = sh->B * sh->H * sh->W;
    T *ug = u + s * R * C, *rag = ra + s * R * C;
    const T *xg = xhat + s * R * C;
    double acc[cw];
    T mu[cw], mxu[cw], iv[cw], ga[cw], rga[cw], rbe[cw];  /* local copies: the compiler sees they alias nothing */
    for (int64_t c = 0; c < cw; c++) acc[c] = 0;
    for (int64_t r = 0; r < R; r++)
        for (int64_t c = 0; c < cw; c++) acc[c] += ug[r * C + c];
    for (int64_t c = 0; c < cw; c++) mu[c] = (T)(acc[c] / R);
    for (int64_t c = 0; c < cw; c++) acc[c] = 0;
    for (int64_t r = 0; r < R; r++)
        for (int64_t c = 0; c < cw; c++) acc[c] += (double)xg[r * C + c] * ug[r * C + c];
    for (int64_t c = 0; c < cw; c++) {
        mxu[c] = (T)(acc[c] / R);
        iv[c] = inv[s * C + c];
        ga[c] = gamma[s * C + c];
        rga[c] = rgamma[s * C + c];
        rbe[c] = rbeta[s * C + c];
        rinv[s * C + c] = -iv[c] * iv[c] * mxu[c];
    }
    T *ur = ug, *rr = rag;
    const T *xr = xg;
    for (int64_t b = 0; b < sh->B; b++)
        for (int64_t h = 0; h < sh->H; h++)
            for (int64_t w = 0; w < sh->W; w++, ur += C, rr += C, xr += C) {
                const T *restrict ar = a + s * sh->sS + b * sh->sN + h * sh->sH + w * sh->sW;
                T *restrict rw = rr;
                for (int64_t c = 0; c < cw; c++) {
                    const T rx = (ur[c] - mu[c] - xr[c] * mxu[c]) * iv[c];
                    const T ry = rbe[c] + rx * ga[c] + xr[c] * rga[c];
                    ur[c] = rx;
                    rw[c] = ar[c] > 0 ? ry : 0;
                }
            }
}

/* Forward: with n = R, m_u = mean u, m_xu = mean(xhat u): rxhat = inv (u - m_u - xhat m_xu), written over u;
 * rinv = -inv^2 m_xu (S, C); ra = (rbeta + rxhat gamma + xhat rgamma) where a > 0, else 0, (S, R, C). */
void NAME(bn_relu_rop_forward)(const shape_t *sh, T *u, const T *xhat, const T *inv, const T *a, const T *gamma,
                               const T *rgamma, const T *rbeta, T *ra, T *rinv, int threads) {
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (int64_t s = 0; s < sh->S; s++) {
        if (sh->C == 64)
            NAME(rop_fwd_block)(sh, u, xhat, inv, a, gamma, rgamma, rbeta, ra, rinv, s, 64);
        else
            NAME(rop_fwd_block)(sh, u, xhat, inv, a, gamma, rgamma, rbeta, ra, rinv, s, sh->C);
    }
}

static inline __attribute__((always_inline)) void NAME(rop_bwd_block)(const shape_t *sh, const T *da, const T *rda,
        const T *a, const T *xhat, const T *rxhat, const T *inv, const T *rinv, const T *gamma, const T *rgamma,
        T *dz, T *rdz, T *hgamma, T *hbeta, int64_t s, const int64_t cw) {
    const int64_t C = sh->C, R = sh->B * sh->H * sh->W, o = s * R * C;
    double db[cw], dg[cw], rdb[cw], rdg[cw];
    T c1[cw], rc1[cw], kdb[cw], kdg[cw], krdb[cw], krdg[cw];
    for (int64_t c = 0; c < cw; c++) db[c] = dg[c] = rdb[c] = rdg[c] = 0;
    int64_t r = 0;
    for (int64_t b = 0; b < sh->B; b++)
        for (int64_t h = 0; h < sh->H; h++)
            for (int64_t w = 0; w < sh->W; w++, r++) {
                const T *restrict ar = a + s * sh->sS + b * sh->sN + h * sh->sH + w * sh->sW;
                const T *restrict d = da + o + r * C, *restrict rd = rda + o + r * C;
                const T *restrict x = xhat + o + r * C, *restrict rx = rxhat + o + r * C;
                for (int64_t c = 0; c < cw; c++) {
                    const T dy = ar[c] > 0 ? d[c] : 0, rdy = ar[c] > 0 ? rd[c] : 0;
                    db[c] += dy;
                    dg[c] += (double)dy * x[c];
                    rdb[c] += rdy;
                    rdg[c] += (double)rdy * x[c] + (double)dy * rx[c];
                }
            }
    for (int64_t c = 0; c < cw; c++) {
        hbeta[s * C + c] = (T)rdb[c];
        hgamma[s * C + c] = (T)rdg[c];
        const T iv = inv[s * C + c], g = gamma[s * C + c];
        c1[c] = g * iv;
        rc1[c] = rgamma[s * C + c] * iv + g * rinv[s * C + c];
        kdb[c] = (T)(db[c] / R);
        kdg[c] = (T)(dg[c] / R);
        krdb[c] = (T)(rdb[c] / R);
        krdg[c] = (T)(rdg[c] / R);
    }
    r = 0;
    for (int64_t b = 0; b < sh->B; b++)
        for (int64_t h = 0; h < sh->H; h++)
            for (int64_t w = 0; w < sh->W; w++, r++) {
                const T *restrict ar = a + s * sh->sS + b * sh->sN + h * sh->sH + w * sh->sW;
                const T *restrict d = da + o + r * C, *restrict rd = rda + o + r * C;
                const T *restrict x = xhat + o + r * C, *restrict rx = rxhat + o + r * C;
                T *restrict dzr = dz + o + r * C, *restrict rdzr = rdz + o + r * C;
                for (int64_t c = 0; c < cw; c++) {
                    const T dy = ar[c] > 0 ? d[c] : 0;
                    dzr[c] = c1[c] * (dy - kdb[c] - x[c] * kdg[c]);
                }
                for (int64_t c = 0; c < cw; c++) {
                    const T dy = ar[c] > 0 ? d[c] : 0, rdy = ar[c] > 0 ? rd[c] : 0;
                    const T inner = dy - kdb[c] - x[c] * kdg[c];
                    rdzr[c] = c1[c] * (rdy - krdb[c] - rx[c] * kdg[c] - x[c] * krdg[c]) + rc1[c] * inner;
                }
            }
}

/* Backward: dy = da, rdy = rda where a > 0, else 0; the R-derivatives of the gradients of beta and gamma,
 * hbeta = sum rdy and hgamma = sum (rdy xhat + dy rxhat) (S, C); with inner = dy - mean dy - xhat mean(dy xhat)
 * (the batch-norm backward's, dz = gamma inv inner) and its R-derivative rinner = rdy - mean rdy - rxhat mean(dy xhat)
 * - xhat mean(rdy xhat + dy rxhat): dz and rdz = gamma inv rinner + (rgamma inv + gamma rinv) inner. */
void NAME(bn_relu_rop_backward)(const shape_t *sh, const T *da, const T *rda, const T *a, const T *xhat,
                                const T *rxhat, const T *inv, const T *rinv, const T *gamma, const T *rgamma, T *dz,
                                T *rdz, T *hgamma, T *hbeta, int threads) {
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (int64_t s = 0; s < sh->S; s++) {
        if (sh->C == 64)
            NAME(rop_bwd_block)(sh, da, rda, a, xhat, rxhat, inv, rinv, gamma, rgamma, dz, rdz, hgamma, hbeta, s,
                                64);
        else
            NAME(rop_bwd_block)(sh, da, rda, a, xhat, rxhat, inv, rinv, gamma, rgamma, dz, rdz, hgamma, hbeta, s,
                                sh->C);
    }
}

#endif
