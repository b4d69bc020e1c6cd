/* Own kernels: half-precision GEMV for decode (measured faster than oneDNN and OpenBLAS for
 * m ≤ 8, see BENCHMARKS.md) and dtype conversions. A portable C path and an AVX-512 path,
 * chosen at run time. */
#include "yopo_kernels.h"
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(_M_X64)
#define YOPO_X86 1
#include <immintrin.h>
#endif

/* ---- CPU features and the dispatch level ---- */

static int supported_level(void) {
#if YOPO_X86 && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) return YOPO_LEVEL_AVX512;
#endif
    return YOPO_LEVEL_PORTABLE;
}

static int current_level = -1;
static int has_bf16 = -1;
static int detect_bf16(void);

/* Detected once at load, before any thread reads them. */
__attribute__((constructor)) static void detect_cpu(void) {
    current_level = supported_level();
    has_bf16 = detect_bf16();
}

int yopo_kernels_supported_level(void) { return supported_level(); }

/* The calling thread's level (−1: the supported one), set by the execution context. */
static _Thread_local int thread_level = -1;

int yopo_kernels_level(void) { return thread_level >= 0 ? thread_level : current_level; }

int yopo_kernels_set_thread_level(int level) {
    int top = supported_level();
    thread_level = level < 0 ? -1 : (level > top ? top : level);
    return yopo_kernels_level();
}

/* CPUID traps in a VM: asked once, at load. */
static int detect_bf16(void) {
#if YOPO_X86 && defined(__GNUC__)
    unsigned a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(1));
    return (a >> 5) & 1; /* CPUID.(EAX=7, ECX=1):EAX[5] = AVX512_BF16 */
#else
    return 0;
#endif
}

int yopo_cpu_has_avx512_bf16(void) { return has_bf16; }

/* ---- scalar conversions ---- */

static inline float bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FF, u;
    if (exponent == 0) {
        float v = (float)mantissa * 5.9604644775390625e-08f; /* 2^-24 */
        return sign ? -v : v;
    }
    if (exponent == 0x1F) u = sign | 0x7F800000u | (mantissa << 13);
    else u = sign | ((exponent + 112) << 23) | (mantissa << 13);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline uint16_t f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7FFFu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

static inline float half_to_f32(int dtype, uint16_t h) { return dtype == YOPO_BF16 ? bf16_to_f32(h) : f16_to_f32(h); }

/* ---- portable GEMV ---- */

static void gemv_half_portable(int dtype, size_t m, size_t n, size_t k, const float *x, size_t ldx,
                               const uint16_t *w, size_t ldw, float beta, float *y, size_t ldy) {
    enum { CHUNK = 256 };
    float row[CHUNK];
    for (size_t j = 0; j < n; j++) {
        const uint16_t *wj = w + j * ldw;
        float acc[8];
        for (size_t i0 = 0; i0 < m; i0 += 8) {
            size_t mb = m - i0 < 8 ? m - i0 : 8;
            for (size_t i = 0; i < mb; i++) acc[i] = 0;
            for (size_t k0 = 0; k0 < k; k0 += CHUNK) {
                size_t kb = k - k0 < CHUNK ? k - k0 : CHUNK;
                for (size_t t = 0; t < kb; t++) row[t] = half_to_f32(dtype, wj[k0 + t]);
                for (size_t i = 0; i < mb; i++) {
                    const float *xi = x + (i0 + i) * ldx + k0;
                    float s = 0;
                    for (size_t t = 0; t < kb; t++) s += row[t] * xi[t];
                    acc[i] += s;
                }
            }
            for (size_t i = 0; i < mb; i++) {
                float *out = y + (i0 + i) * ldy + j;
                *out = beta == 0 ? acc[i] : acc[i] + beta * *out;
            }
        }
    }
}

/* ---- AVX-512 GEMV ---- */

#if YOPO_X86 && defined(__GNUC__)
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

AVX512 static inline __m512 load16(int dtype, const uint16_t *p) {
    __m256i h = _mm256_loadu_si256((const __m256i *)p);
    if (dtype == YOPO_BF16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    return _mm512_cvtph_ps(h);
}

AVX512 static inline __m512 load16_tail(int dtype, const uint16_t *p, __mmask16 mask) {
    __m256i h = _mm256_maskz_loadu_epi16(mask, p);
    if (dtype == YOPO_BF16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    return _mm512_cvtph_ps(h);
}

/* One row of x (decode): four weight rows per pass, so each x load feeds four FMAs. */
AVX512 static size_t gemv_half_avx512_m1(int dtype, size_t n, size_t k, const float *x, const uint16_t *w, size_t ldw,
                                         float beta, float *y) {
    size_t k16 = k & ~(size_t)15, j = 0;
    for (; j + 4 <= n; j += 4) {
        const uint16_t *w0 = w + j * ldw, *w1 = w0 + ldw, *w2 = w1 + ldw, *w3 = w2 + ldw;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (size_t t = 0; t < k16; t += 16) {
            __m512 xv = _mm512_loadu_ps(x + t);
            a0 = _mm512_fmadd_ps(load16(dtype, w0 + t), xv, a0);
            a1 = _mm512_fmadd_ps(load16(dtype, w1 + t), xv, a1);
            a2 = _mm512_fmadd_ps(load16(dtype, w2 + t), xv, a2);
            a3 = _mm512_fmadd_ps(load16(dtype, w3 + t), xv, a3);
        }
        float s[4] = {_mm512_reduce_add_ps(a0), _mm512_reduce_add_ps(a1), _mm512_reduce_add_ps(a2),
                      _mm512_reduce_add_ps(a3)};
        for (size_t t = k16; t < k; t++) {
            float xt = x[t];
            s[0] += half_to_f32(dtype, w0[t]) * xt;
            s[1] += half_to_f32(dtype, w1[t]) * xt;
            s[2] += half_to_f32(dtype, w2[t]) * xt;
            s[3] += half_to_f32(dtype, w3[t]) * xt;
        }
        for (int i = 0; i < 4; i++) y[j + i] = beta == 0 ? s[i] : s[i] + beta * y[j + i];
    }
    return j;
}

/* Up to 4 rows of x per pass over one weight row; two accumulators per x row. */
AVX512 static void gemv_half_avx512(int dtype, size_t m, size_t n, size_t k, const float *x, size_t ldx,
                                    const uint16_t *w, size_t ldw, float beta, float *y, size_t ldy) {
    size_t k32 = k & ~(size_t)31, k16 = k & ~(size_t)15;
    __mmask16 tail = (__mmask16)((1u << (k - k16)) - 1);
    for (size_t j = 0; j < n; j++) {
        const uint16_t *wj = w + j * ldw;
        for (size_t i0 = 0; i0 < m; i0 += 4) {
            size_t mb = m - i0 < 4 ? m - i0 : 4;
            const float *x0 = x + i0 * ldx, *x1 = x0 + (mb > 1 ? ldx : 0), *x2 = x0 + (mb > 2 ? 2 * ldx : 0),
                        *x3 = x0 + (mb > 3 ? 3 * ldx : 0);
            __m512 a0 = _mm512_setzero_ps(), b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0, a3 = a0, b3 = a0;
            size_t t = 0;
            for (; t < k32; t += 32) {
                __m512 lo = load16(dtype, wj + t), hi = load16(dtype, wj + t + 16);
                a0 = _mm512_fmadd_ps(lo, _mm512_loadu_ps(x0 + t), a0);
                b0 = _mm512_fmadd_ps(hi, _mm512_loadu_ps(x0 + t + 16), b0);
                if (mb > 1) {
                    a1 = _mm512_fmadd_ps(lo, _mm512_loadu_ps(x1 + t), a1);
                    b1 = _mm512_fmadd_ps(hi, _mm512_loadu_ps(x1 + t + 16), b1);
                }
                if (mb > 2) {
                    a2 = _mm512_fmadd_ps(lo, _mm512_loadu_ps(x2 + t), a2);
                    b2 = _mm512_fmadd_ps(hi, _mm512_loadu_ps(x2 + t + 16), b2);
                }
                if (mb > 3) {
                    a3 = _mm512_fmadd_ps(lo, _mm512_loadu_ps(x3 + t), a3);
                    b3 = _mm512_fmadd_ps(hi, _mm512_loadu_ps(x3 + t + 16), b3);
                }
            }
            for (; t < k16; t += 16) {
                __m512 v = load16(dtype, wj + t);
                a0 = _mm512_fmadd_ps(v, _mm512_loadu_ps(x0 + t), a0);
                if (mb > 1) a1 = _mm512_fmadd_ps(v, _mm512_loadu_ps(x1 + t), a1);
                if (mb > 2) a2 = _mm512_fmadd_ps(v, _mm512_loadu_ps(x2 + t), a2);
                if (mb > 3) a3 = _mm512_fmadd_ps(v, _mm512_loadu_ps(x3 + t), a3);
            }
            if (tail) {
                __m512 v = load16_tail(dtype, wj + t, tail);
                a0 = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(tail, x0 + t), a0);
                if (mb > 1) a1 = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(tail, x1 + t), a1);
                if (mb > 2) a2 = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(tail, x2 + t), a2);
                if (mb > 3) a3 = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(tail, x3 + t), a3);
            }
            float s[4] = {_mm512_reduce_add_ps(_mm512_add_ps(a0, b0)), _mm512_reduce_add_ps(_mm512_add_ps(a1, b1)),
                          _mm512_reduce_add_ps(_mm512_add_ps(a2, b2)), _mm512_reduce_add_ps(_mm512_add_ps(a3, b3))};
            for (size_t i = 0; i < mb; i++) {
                float *out = y + (i0 + i) * ldy + j;
                *out = beta == 0 ? s[i] : s[i] + beta * *out;
            }
        }
    }
}

AVX512 static void half_to_f32_avx512(int dtype, size_t cols, const uint16_t *src, float *dst) {
    size_t t = 0;
    for (; t + 16 <= cols; t += 16) _mm512_storeu_ps(dst + t, load16(dtype, src + t));
    for (; t < cols; t++) dst[t] = half_to_f32(dtype, src[t]);
}
#endif

void yopo_gemv_half(int dtype, size_t m, size_t n, size_t k, const float *x, size_t ldx, const uint16_t *w,
                    size_t ldw, float beta, float *y, size_t ldy) {
#if YOPO_X86 && defined(__GNUC__)
    if (yopo_kernels_level() >= YOPO_LEVEL_AVX512) {
        size_t done = m == 1 ? gemv_half_avx512_m1(dtype, n, k, x, w, ldw, beta, y) : 0;
        gemv_half_avx512(dtype, m, n - done, k, x, ldx, w + done * ldw, ldw, beta, y + done, ldy);
        return;
    }
#endif
    gemv_half_portable(dtype, m, n, k, x, ldx, w, ldw, beta, y, ldy);
}

#if YOPO_X86 && defined(__GNUC__)
/* One row of x (decode): one weight row at a time, four accumulators (measured 7% faster than four
 * rows at a time: one memory stream per thread). */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
static void gemv_bf16_dp_m1(size_t n, size_t k, const uint16_t *x, const uint16_t *w, size_t ldw, float beta, float *y) {
    size_t k128 = k & ~(size_t)127, k32 = k & ~(size_t)31;
    for (size_t j = 0; j < n; j++) {
        const uint16_t *wj = w + j * ldw;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        size_t t = 0;
        for (; t < k128; t += 128) {
            a0 = _mm512_dpbf16_ps(a0, (__m512bh)_mm512_loadu_si512(wj + t), (__m512bh)_mm512_loadu_si512(x + t));
            a1 = _mm512_dpbf16_ps(a1, (__m512bh)_mm512_loadu_si512(wj + t + 32), (__m512bh)_mm512_loadu_si512(x + t + 32));
            a2 = _mm512_dpbf16_ps(a2, (__m512bh)_mm512_loadu_si512(wj + t + 64), (__m512bh)_mm512_loadu_si512(x + t + 64));
            a3 = _mm512_dpbf16_ps(a3, (__m512bh)_mm512_loadu_si512(wj + t + 96), (__m512bh)_mm512_loadu_si512(x + t + 96));
        }
        for (; t < k32; t += 32)
            a0 = _mm512_dpbf16_ps(a0, (__m512bh)_mm512_loadu_si512(wj + t), (__m512bh)_mm512_loadu_si512(x + t));
        float s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
        for (; t < k; t++) s += bf16_to_f32(wj[t]) * bf16_to_f32(x[t]);
        y[j] = beta == 0 ? s : s + beta * y[j];
    }
}

/* Four weight rows per pass with VDPBF16PS (32 products per instruction); k tail in scalar. */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
static void gemv_bf16_dp(size_t m, size_t n, size_t k, const uint16_t *x, size_t ldx, const uint16_t *w, size_t ldw,
                         float beta, float *y, size_t ldy) {
    size_t k32 = k & ~(size_t)31;
    for (size_t i = 0; i < m; i++) {
        const uint16_t *xi = x + i * ldx;
        float *yi = y + i * ldy;
        size_t j = 0;
        for (; j < n; j += 4) {
            size_t rows = n - j < 4 ? n - j : 4;
            const uint16_t *wr[4];
            for (size_t r = 0; r < 4; r++) wr[r] = w + (j + (r < rows ? r : 0)) * ldw;
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (size_t t = 0; t < k32; t += 32) {
                __m512bh xv = (__m512bh)_mm512_loadu_si512(xi + t);
                a0 = _mm512_dpbf16_ps(a0, (__m512bh)_mm512_loadu_si512(wr[0] + t), xv);
                a1 = _mm512_dpbf16_ps(a1, (__m512bh)_mm512_loadu_si512(wr[1] + t), xv);
                a2 = _mm512_dpbf16_ps(a2, (__m512bh)_mm512_loadu_si512(wr[2] + t), xv);
                a3 = _mm512_dpbf16_ps(a3, (__m512bh)_mm512_loadu_si512(wr[3] + t), xv);
            }
            float s[4] = {_mm512_reduce_add_ps(a0), _mm512_reduce_add_ps(a1), _mm512_reduce_add_ps(a2),
                          _mm512_reduce_add_ps(a3)};
            for (size_t r = 0; r < rows; r++) {
                for (size_t t = k32; t < k; t++) s[r] += bf16_to_f32(wr[r][t]) * bf16_to_f32(xi[t]);
                yi[j + r] = beta == 0 ? s[r] : s[r] + beta * yi[j + r];
            }
        }
    }
}
#endif

void yopo_gemv_bf16(size_t m, size_t n, size_t k, const uint16_t *x, size_t ldx, const uint16_t *w, size_t ldw,
                    float beta, float *y, size_t ldy) {
#if YOPO_X86 && defined(__GNUC__)
    if (yopo_kernels_level() >= YOPO_LEVEL_AVX512 && yopo_cpu_has_avx512_bf16()) {
        if (m == 1) gemv_bf16_dp_m1(n, k, x, w, ldw, beta, y);
        else gemv_bf16_dp(m, n, k, x, ldx, w, ldw, beta, y, ldy);
        return;
    }
#endif
    /* Fallback: x widened back to fp32 (exact), then the fp32-activation GEMV: the same products. */
    float *wide = (float *)malloc(m * k * sizeof(float));
    yopo_half_to_f32(YOPO_BF16, m, k, x, ldx, wide, k);
    yopo_gemv_half(YOPO_BF16, m, n, k, wide, k, w, ldw, beta, y, ldy);
    free(wide);
}

/* Row range [lo, hi) of part `t` of `parts`, in multiples of 4 rows (the decode kernels' unit). */
static void split_rows(size_t n, int t, int parts, size_t *lo, size_t *hi) {
    size_t quads = (n + 3) / 4;
    *lo = quads * (size_t)t / (size_t)parts * 4;
    *hi = quads * (size_t)(t + 1) / (size_t)parts * 4;
    if (*lo > n) *lo = n;
    if (*hi > n) *hi = n;
}

/* One GEMV call's arguments, shared by the threads of a parallel region. */
struct gemv_job {
    int parts, dtype, bf16_activations;
    size_t m, n, k, ldx, ldw, ldy;
    const void *x;
    const uint16_t *w;
    float beta;
    float *y;
};

static void gemv_part(struct gemv_job *j, int t) {
    size_t lo, hi;
    split_rows(j->n, t, j->parts, &lo, &hi);
    if (hi <= lo) return;
    if (j->bf16_activations)
        yopo_gemv_bf16(j->m, hi - lo, j->k, (const uint16_t *)j->x, j->ldx, j->w + lo * j->ldw, j->ldw, j->beta,
                       j->y + lo, j->ldy);
    else
        yopo_gemv_half(j->dtype, j->m, hi - lo, j->k, (const float *)j->x, j->ldx, j->w + lo * j->ldw, j->ldw,
                       j->beta, j->y + lo, j->ldy);
}

#if defined(__linux__)
/* libgomp's entry points (the OpenMP runtime oneDNN runs on, linked with it): a parallel region
 * on its thread pool, which oneDNN's calls keep warm. Called directly, so no -fopenmp is needed. */
extern void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
extern int omp_get_thread_num(void);

extern int omp_get_num_threads(void);

/* libgomp may grant fewer threads than asked (OMP_DYNAMIC, OMP_THREAD_LIMIT, nesting): the team
 * shares out every part whatever its size. */
static void gemv_region(void *data) {
    struct gemv_job *j = (struct gemv_job *)data;
    for (int t = omp_get_thread_num(); t < j->parts; t += omp_get_num_threads()) gemv_part(j, t);
}
#endif

struct parallel_for_job {
    int parts;
    void (*fn)(void *, int);
    void *context;
};

#if defined(__linux__)
struct leveled_region {
    void (*fn)(void *);
    void *data;
    int level;
};

static void leveled_region(void *data) {
    struct leveled_region *r = (struct leveled_region *)data;
    thread_level = r->level;
    r->fn(r->data);
}
#endif

void yopo_gomp_parallel(void (*fn)(void *), void *data, unsigned num_threads) {
#if defined(__linux__)
    struct leveled_region r = {fn, data, yopo_kernels_level()};
    GOMP_parallel(leveled_region, &r, num_threads, 0);
#else
    (void)num_threads;
    fn(data);
#endif
}

#if defined(__linux__)
static void parallel_for_region(void *data) {
    struct parallel_for_job *j = (struct parallel_for_job *)data;
    for (int t = omp_get_thread_num(); t < j->parts; t += omp_get_num_threads()) j->fn(j->context, t);
}
#endif

void yopo_parallel_for(int parts, void (*fn)(void *context, int part), void *context) {
#if defined(__linux__)
    if (parts > 1) {
        struct parallel_for_job j = {parts, fn, context};
        yopo_gomp_parallel(parallel_for_region, &j, (unsigned)parts);
        return;
    }
#endif
    for (int t = 0; t < parts; t++) fn(context, t);
}

static void run_gemv(struct gemv_job *j) {
#if defined(__linux__)
    if (j->parts > 1) {
        yopo_gomp_parallel(gemv_region, j, (unsigned)j->parts);
        return;
    }
#endif
    for (int t = 0; t < j->parts; t++) gemv_part(j, t);
}

void yopo_gemv_half_mt(int threads, int dtype, size_t m, size_t n, size_t k, const float *x, size_t ldx,
                       const uint16_t *w, size_t ldw, float beta, float *y, size_t ldy) {
    struct gemv_job j = {threads < 1 ? 1 : threads, dtype, 0, m, n, k, ldx, ldw, ldy, x, w, beta, y};
    run_gemv(&j);
}

void yopo_gemv_bf16_mt(int threads, size_t m, size_t n, size_t k, const uint16_t *x, size_t ldx, const uint16_t *w,
                       size_t ldw, float beta, float *y, size_t ldy) {
    struct gemv_job j = {threads < 1 ? 1 : threads, YOPO_BF16, 1, m, n, k, ldx, ldw, ldy, x, w, beta, y};
    run_gemv(&j);
}

void yopo_half_to_f32(int dtype, size_t rows, size_t cols, const uint16_t *src, size_t lds, float *dst, size_t ldd) {
    for (size_t r = 0; r < rows; r++) {
        const uint16_t *s = src + r * lds;
        float *d = dst + r * ldd;
#if YOPO_X86 && defined(__GNUC__)
        if (yopo_kernels_level() >= YOPO_LEVEL_AVX512) {
            half_to_f32_avx512(dtype, cols, s, d);
            continue;
        }
#endif
        for (size_t t = 0; t < cols; t++) d[t] = half_to_f32(dtype, s[t]);
    }
}

#if YOPO_X86 && defined(__GNUC__)
/* The scalar rounding above, 16 lanes at a time (bit-identical, NaN included). */
AVX512 static size_t f32_to_bf16_avx512(const float *src, uint16_t *dst, size_t count) {
    const __m512i one = _mm512_set1_epi32(1), bias = _mm512_set1_epi32(0x7FFF), abs = _mm512_set1_epi32(0x7FFFFFFF),
                  inf = _mm512_set1_epi32(0x7F800000), quiet = _mm512_set1_epi32(0x40);
    size_t i = 0;
    for (; i + 16 <= count; i += 16) {
        __m512i u = _mm512_castps_si512(_mm512_loadu_ps(src + i));
        __m512i high = _mm512_srli_epi32(u, 16);
        __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(bias, _mm512_and_si512(high, one))), 16);
        __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, abs), inf);
        r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(high, quiet));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm512_cvtepi32_epi16(r));
    }
    return i;
}
#endif

#if YOPO_X86 && defined(__GNUC__)
/* e^x for x ≤ 0 (Cephes expf's reduction and polynomial); x < -87.3 gives exactly 0. */
AVX512 static inline __m512 exp_nonpositive(__m512 x) {
    const __m512 lo = _mm512_set1_ps(-87.3f);
    __mmask16 keep = _mm512_cmp_ps_mask(x, lo, _CMP_GE_OQ);
    x = _mm512_max_ps(x, lo);
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 q = _mm512_set1_ps(1.9875691500e-4f);
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(1.3981999507e-3f));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(8.3334519073e-3f));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(4.1665795894e-2f));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(1.6666665459e-1f));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(5.0000001201e-1f));
    q = _mm512_fmadd_ps(q, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_maskz_mov_ps(keep, _mm512_scalef_ps(q, n));
}

AVX512 static void softmax_avx512(float *p, size_t n) {
    const __m512 ninf = _mm512_set1_ps(-__builtin_inff());
    size_t n16 = n & ~(size_t)15;
    __mmask16 tail = (__mmask16)((1u << (n - n16)) - 1);
    __m512 vm = ninf;
    for (size_t i = 0; i < n16; i += 16) vm = _mm512_max_ps(vm, _mm512_loadu_ps(p + i));
    if (tail) vm = _mm512_max_ps(vm, _mm512_mask_loadu_ps(ninf, tail, p + n16));
    float m = _mm512_reduce_max_ps(vm);
    if (m == -__builtin_inff()) {
        memset(p, 0, n * sizeof(float));
        return;
    }
    __m512 vmax = _mm512_set1_ps(m), sum = _mm512_setzero_ps();
    for (size_t i = 0; i < n16; i += 16) {
        __m512 e = exp_nonpositive(_mm512_sub_ps(_mm512_loadu_ps(p + i), vmax));
        _mm512_storeu_ps(p + i, e);
        sum = _mm512_add_ps(sum, e);
    }
    if (tail) {
        __m512 e = _mm512_maskz_mov_ps(tail, exp_nonpositive(_mm512_sub_ps(_mm512_mask_loadu_ps(ninf, tail, p + n16), vmax)));
        _mm512_mask_storeu_ps(p + n16, tail, e);
        sum = _mm512_add_ps(sum, e);
    }
    __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    for (size_t i = 0; i < n16; i += 16) _mm512_storeu_ps(p + i, _mm512_mul_ps(_mm512_loadu_ps(p + i), inv));
    if (tail) _mm512_mask_storeu_ps(p + n16, tail, _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, p + n16), inv));
}
#endif

int yopo_softmax_avx512(float *p, size_t n) {
#if YOPO_X86 && defined(__GNUC__)
    if (yopo_kernels_level() >= YOPO_LEVEL_AVX512 && n > 0) {
        softmax_avx512(p, n);
        return 1;
    }
#endif
    (void)p;
    (void)n;
    return 0;
}

void yopo_f32_to_bf16(const float *src, uint16_t *dst, size_t count) {
    size_t i = 0;
#if YOPO_X86 && defined(__GNUC__)
    if (yopo_kernels_level() >= YOPO_LEVEL_AVX512) i = f32_to_bf16_avx512(src, dst, count);
#endif
    for (; i < count; i++) dst[i] = f32_to_bf16(src[i]);
}

void yopo_any_to_bf16(int dtype, size_t rows, size_t cols, const void *src, size_t lds, uint16_t *dst, size_t ldd) {
    for (size_t r = 0; r < rows; r++) {
        uint16_t *d = dst + r * ldd;
        if (dtype == YOPO_F32) {
            yopo_f32_to_bf16((const float *)src + r * lds, d, cols);
        } else if (dtype == YOPO_BF16) {
            memcpy(d, (const uint16_t *)src + r * lds, cols * 2);
        } else {
            const uint16_t *s = (const uint16_t *)src + r * lds;
            for (size_t t = 0; t < cols; t++) d[t] = f32_to_bf16(f16_to_f32(s[t]));
        }
    }
}

uint64_t yopo_read_memory(const void *p, size_t bytes) {
    const uint64_t *w = (const uint64_t *)p;
    size_t n = bytes / 8;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    for (size_t i = 0; i + 8 <= n; i += 8) {
        s0 += w[i]; s1 += w[i + 1]; s2 += w[i + 2]; s3 += w[i + 3];
        s4 += w[i + 4]; s5 += w[i + 5]; s6 += w[i + 6]; s7 += w[i + 7];
    }
    return s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7;
}

#if defined(__GLIBC__)
#include <malloc.h>
#endif

void yopo_retain_freed_memory(void) {
#if defined(__GLIBC__)
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 0x7FFFFFFF);
#endif
}
