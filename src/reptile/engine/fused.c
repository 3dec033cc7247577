/* Batch norm (batch statistics) + ReLU of the population Conv4, forward and backward, each fused into few passes.
 *
 * The arithmetic of the PyTorch path in reptile/engine/network.py, with fewer passes over memory: that path spends
 * about as long in a dozen elementwise operations per layer as in the matrix multiplies. Loaded by
 * reptile/engine/fused.py with ctypes and compiled there on first use. Plain C99, single-threaded.
 *
 * Layout (see network.py): the pre-activations z are (S, G, R, C) contiguous, R = B * H * W rows of C channels per
 * (member s, group g); the ReLU outputs a and their gradients da are (S, N = G * B, H, W, C) with any strides but a
 * unit one on C (they live inside the next layer's padded buffer). Statistics are per (s, g, c) over the R rows,
 * accumulated in double. This file includes itself once per element type (T = float, then double).
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
#include "fused.c"
#undef T
#undef NAME
#define T double
#define NAME(f) f##_f64
#include "fused.c"
#undef T
#undef NAME

#else

/* Forward: xhat = (z - mean) * inv, written over z; inv = 1 / sqrt(var + eps) (S, G, C);
 * a = max(0, beta + xhat * gamma). */
void NAME(bn_relu_forward)(const shape_t *sh, T *z, T *inv, T *a, const T *gamma, const T *beta, double eps) {
    const int64_t C = sh->C, R = sh->B * sh->H * sh->W;
    double acc[C];
    T mean[C], iv[C];
    for (int64_t s = 0; s < sh->S; s++) {
        const T *ga = gamma + s * C, *be = beta + s * C;
        for (int64_t g = 0; g < sh->G; g++) {
            T *zg = z + (s * sh->G + g) * R * C;
            memset(acc, 0, sizeof acc);
            for (int64_t r = 0; r < R; r++)
                for (int64_t c = 0; c < C; c++) acc[c] += zg[r * C + c];
            for (int64_t c = 0; c < C; c++) mean[c] = (T)(acc[c] / R);
            memset(acc, 0, sizeof acc);
            for (int64_t r = 0; r < R; r++)
                for (int64_t c = 0; c < C; c++) {
                    const T d = zg[r * C + c] - mean[c];
                    acc[c] += (double)d * d;
                }
            for (int64_t c = 0; c < C; c++) {
                iv[c] = (T)(1.0 / sqrt(acc[c] / R + eps));
                inv[(s * sh->G + g) * C + c] = iv[c];
            }
            T *zr = zg;
            for (int64_t b = 0; b < sh->B; b++)
                for (int64_t h = 0; h < sh->H; h++)
                    for (int64_t w = 0; w < sh->W; w++, zr += C) {
                        T *ar = a + s * sh->sS + (g * sh->B + b) * sh->sN + h * sh->sH + w * sh->sW;
                        for (int64_t c = 0; c < C; c++) {
                            const T x = (zr[c] - mean[c]) * iv[c];
                            const T y = be[c] + x * ga[c];
                            zr[c] = x;
                            ar[c] = y > 0 ? y : 0;
                        }
                    }
        }
    }
}

/* Backward: dy = da where a > 0, else 0; per group dbeta = sum dy and dgamma = sum dy * xhat, also summed over the
 * groups into dbeta_total and dgamma_total (S, C); dz = c1 dy - c1 dbeta / R - xhat c1 dgamma / R, c1 = gamma inv,
 * written (S, G, R, C) contiguous. */
void NAME(bn_relu_backward)(const shape_t *sh, const T *da, const T *a, const T *xhat, const T *inv, const T *gamma,
                            T *dz, T *dgamma_total, T *dbeta_total) {
    const int64_t C = sh->C, R = sh->B * sh->H * sh->W;
    double db[C], dg[C];
    T c1[C], k0[C], k1[C];
    for (int64_t s = 0; s < sh->S; s++) {
        for (int64_t c = 0; c < C; c++) dgamma_total[s * C + c] = dbeta_total[s * C + c] = 0;
        for (int64_t g = 0; g < sh->G; g++) {
            const T *xg = xhat + (s * sh->G + g) * R * C;
            T *dzg = dz + (s * sh->G + g) * R * C;
            memset(db, 0, sizeof db);
            memset(dg, 0, sizeof dg);
            const T *xr = xg;
            for (int64_t b = 0; b < sh->B; b++)
                for (int64_t h = 0; h < sh->H; h++)
                    for (int64_t w = 0; w < sh->W; w++, xr += C) {
                        const int64_t n = g * sh->B + b;
                        const T *restrict dar = da + s * sh->dS + n * sh->dN + h * sh->dH + w * sh->dW;
                        const T *restrict arr = a + s * sh->sS + n * sh->sN + h * sh->sH + w * sh->sW;
                        double *restrict pb = db, *restrict pg = dg;
                        for (int64_t c = 0; c < C; c++) {
                            const T d = dar[c], dy = arr[c] > 0 ? d : 0;
                            pb[c] += dy;
                            pg[c] += (double)dy * xr[c];
                        }
                    }
            for (int64_t c = 0; c < C; c++) {
                dbeta_total[s * C + c] += (T)db[c];
                dgamma_total[s * C + c] += (T)dg[c];
                c1[c] = gamma[s * C + c] * inv[(s * sh->G + g) * C + c];
                k0[c] = -c1[c] * (T)db[c] / (T)R;
                k1[c] = -c1[c] * (T)dg[c] / (T)R;
            }
            xr = xg;
            T *dzr = dzg;
            for (int64_t b = 0; b < sh->B; b++)
                for (int64_t h = 0; h < sh->H; h++)
                    for (int64_t w = 0; w < sh->W; w++, xr += C, dzr += C) {
                        const int64_t n = g * sh->B + b;
                        const T *dar = da + s * sh->dS + n * sh->dN + h * sh->dH + w * sh->dW;
                        const T *arr = a + s * sh->sS + n * sh->sN + h * sh->sH + w * sh->sW;
                        for (int64_t c = 0; c < C; c++) {
                            const T dy = arr[c] > 0 ? dar[c] : 0;
                            dzr[c] = k0[c] + dy * c1[c] + xr[c] * k1[c];
                        }
                    }
        }
    }
}

/* col2im of a stride-2 3x3 convolution: the input gradient dx (S, N, H, W, C), contiguous, from cols (S, N, o, o, 9 C)
 * = dz @ kernel^T, whose column block (i, j) is what output pixel (oy, ox) sends to padded input pixel
 * (2 oy + i, 2 ox + j). Each input pixel gathers its (at most four) contributions, in (i, j) order, and is written
 * once. */
void NAME(col2im)(const conv_t *cv, const T *cols, T *dx) {
    const int64_t C = cv->C, o = cv->o, row = 9 * C;
    T acc[C];
    for (int64_t sn = 0; sn < cv->S * cv->N; sn++) {
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

#endif
