/* Own bf16 GEMM for mid-size row counts (the 65 text rows YOPO keeps after dropping the visual
 * tokens): c[m, n] = a[m, k] · w[n, k]ᵀ + beta · c with w bf16 in its stored [n, k] layout (no
 * packing), a rounded to bf16 once per call, VDPBF16PS dot products along k, fp32 accumulation.
 *
 * Blocking: the rows of w are taken GEMM_NR at a time (a panel) and cut into GEMM_KC-long k blocks;
 * one block of the panel (GEMM_NR × GEMM_KC bf16, 16 KB) stays in L1 while every tile of ≤ GEMM_MR
 * rows of a (m × GEMM_KC bf16, in L2) passes over it, so w is read from memory once per call. Each
 * tile keeps GEMM_MR × GEMM_NR zmm accumulators of 16 partial sums; between k blocks they live in a
 * per-thread buffer, after the last block 16 of them at a time are reduced by a transposing add tree.
 * The tiles prefetch the w block PREFETCH_BLOCKS ahead into L2 and the next one into L1, one line per
 * step. k is cut into spans whose part of a fits L2 (A_SPAN_BYTES; the later spans add to c).
 * Threads (libgomp, as the GEMVs) split the panels; they first round their share of a's rows (rows
 * padded by one cache line, so a tile's rows do not share an L1 set when k is a multiple of 2048).
 * Tuned on 2 Zen 4 cores (bench-gemm, M = 65): 6×4 tiles ran at ~95% of VDPBF16PS peak from L1,
 * 5×5 and 4×6 at 80–85%; KC 1024 ≈ 2048 > 512; copying each w block to a contiguous buffer (against
 * L1 set conflicts of rows 8 KB apart) cost more than it saved once a's rows were padded; prefetching
 * a or unrolling k by 2 was slower. */
#include "yopo_kernels.h"
#include <stdlib.h>
#include <string.h>

#if (defined(__x86_64__) || defined(_M_X64)) && defined(__GNUC__)
#define YOPO_GEMM_X86 1
#include <immintrin.h>
#include <pthread.h>
#endif

#ifndef GEMM_MR
#define GEMM_MR 6
#endif
#ifndef GEMM_NR
#define GEMM_NR 4
#endif
#ifndef GEMM_KC
#define GEMM_KC 2048 /* multiple of 32 */
#endif
/* Blocks of w prefetched ahead of the one being computed. */
#ifndef PREFETCH_BLOCKS
#define PREFETCH_BLOCKS 3
#endif
/* Bytes of bf16 a (m rows × a k span) the k spans are sized to (L2: 1 MB per Zen 4 core). */
#ifndef A_SPAN_BYTES
#define A_SPAN_BYTES (640 << 10)
#endif
#ifndef PREFETCH_HINT
#define PREFETCH_HINT _MM_HINT_T1
#endif

#if YOPO_GEMM_X86
#define BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

/* Per-thread scratch (a rounded to bf16 on the calling thread; the k-block accumulators on every
 * thread), grown on demand and freed when the thread exits. */
struct scratch {
    void *p;
    size_t bytes;
};
struct scratch_set {
    struct scratch a, acc;
};
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *v) {
    struct scratch_set *s = (struct scratch_set *)v;
    free(s->a.p);
    free(s->acc.p);
    free(s);
}

static void scratch_init(void) { pthread_key_create(&scratch_key, scratch_free); }

static struct scratch_set *thread_scratch(void) {
    pthread_once(&scratch_once, scratch_init);
    struct scratch_set *s = (struct scratch_set *)pthread_getspecific(scratch_key);
    if (!s) {
        s = (struct scratch_set *)calloc(1, sizeof *s);
        if (!s) return NULL;
        pthread_setspecific(scratch_key, s);
    }
    return s;
}

static void *grow(struct scratch *s, size_t bytes) {
    if (s->bytes >= bytes) return s->p;
    free(s->p);
    size_t rounded = (bytes + 63) & ~(size_t)63;
    s->p = aligned_alloc(64, rounded);
    s->bytes = s->p ? rounded : 0;
    return s->p;
}

/* Horizontal sums of 4 vectors: 128-bit block j of the result holds 4 partial sums of v[j]. */
BF16 static inline __m512 reduce4(__m512 v0, __m512 v1, __m512 v2, __m512 v3) {
    __m512 s01 = _mm512_add_ps(_mm512_shuffle_f32x4(v0, v1, 0x44), _mm512_shuffle_f32x4(v0, v1, 0xEE));
    __m512 s23 = _mm512_add_ps(_mm512_shuffle_f32x4(v2, v3, 0x44), _mm512_shuffle_f32x4(v2, v3, 0xEE));
    return _mm512_add_ps(_mm512_shuffle_f32x4(s01, s23, 0x88), _mm512_shuffle_f32x4(s01, s23, 0xDD));
}

/* Lane l of the result = the sum of the 16 lanes of v[l]. */
BF16 static inline __m512 reduce16(const __m512 *v) {
    __m512 t0 = reduce4(v[0], v[4], v[8], v[12]), t1 = reduce4(v[1], v[5], v[9], v[13]);
    __m512 t2 = reduce4(v[2], v[6], v[10], v[14]), t3 = reduce4(v[3], v[7], v[11], v[15]);
    __m512 u01 = _mm512_add_ps(_mm512_unpacklo_ps(t0, t1), _mm512_unpackhi_ps(t0, t1));
    __m512 u23 = _mm512_add_ps(_mm512_unpacklo_ps(t2, t3), _mm512_unpackhi_ps(t2, t3));
    return _mm512_add_ps(_mm512_shuffle_ps(u01, u23, 0x44), _mm512_shuffle_ps(u01, u23, 0xEE));
}

/* One mr × nr tile over one k block of `kc` elements (a multiple of 32 except in the last block).
 * `first`: start from zero, else from `buf`; `last`: reduce and write c (with beta), else store to `buf`.
 * `pf`, `pf_l1`: rows of w to prefetch into L2 and L1 alongside, one line per 32-element step (a
 * burst of prefetches stalls once the miss buffers are full; spread out they cost next to nothing),
 * or NULL. */
BF16 static inline __attribute__((always_inline)) void tile(
    const int mr, const int nr, size_t kc, int first, int last, const uint16_t *a, size_t lda, const uint16_t *w,
    size_t ldw, float *buf, float beta, float *c, size_t ldc, const uint16_t *pf, const uint16_t *pf_l1) {
    __m512 acc[GEMM_MR][GEMM_NR];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++)
            acc[i][j] = first ? _mm512_setzero_ps() : _mm512_load_ps(buf + (i * GEMM_NR + j) * 16);
    size_t k32 = kc & ~(size_t)31, t = 0;
    for (; t < k32; t += 32) {
        if (pf) _mm_prefetch((const char *)(pf + t), PREFETCH_HINT);
        if (pf_l1) _mm_prefetch((const char *)(pf_l1 + t), _MM_HINT_T0);
        __m512bh wv[GEMM_NR];
        for (int j = 0; j < nr; j++) wv[j] = (__m512bh)_mm512_loadu_si512(w + j * ldw + t);
        for (int i = 0; i < mr; i++) {
            __m512bh av = (__m512bh)_mm512_loadu_si512(a + i * lda + t);
            for (int j = 0; j < nr; j++) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], av, wv[j]);
        }
    }
    if (t < kc) {
        __mmask32 mask = (__mmask32)((1ull << (kc - t)) - 1);
        __m512bh wv[GEMM_NR];
        for (int j = 0; j < nr; j++) wv[j] = (__m512bh)_mm512_maskz_loadu_epi16(mask, w + j * ldw + t);
        for (int i = 0; i < mr; i++) {
            __m512bh av = (__m512bh)_mm512_maskz_loadu_epi16(mask, a + i * lda + t);
            for (int j = 0; j < nr; j++) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], av, wv[j]);
        }
    }
    if (!last) {
        for (int i = 0; i < mr; i++)
            for (int j = 0; j < nr; j++) _mm512_store_ps(buf + (i * GEMM_NR + j) * 16, acc[i][j]);
        return;
    }
    /* Reduce 16 accumulators at a time (row-major over the tile); unused slots are zero. */
    for (int base = 0; base < mr * nr; base += 16) {
        __m512 v[16];
        for (int q = 0; q < 16; q++) {
            int e = base + q;
            v[q] = e < mr * nr ? acc[e / nr][e % nr] : _mm512_setzero_ps();
        }
        float s[16];
        _mm512_storeu_ps(s, reduce16(v));
        for (int q = 0; q < 16 && base + q < mr * nr; q++) {
            int e = base + q;
            float *out = c + (size_t)(e / nr) * ldc + (size_t)(e % nr);
            *out = beta == 0 ? s[q] : s[q] + beta * *out;
        }
    }
}

typedef void (*tile_fn)(size_t, int, int, const uint16_t *, size_t, const uint16_t *, size_t, float *, float, float *,
                        size_t, const uint16_t *, const uint16_t *);

#define TILE(MR, NR)                                                                                              \
    BF16 static void tile_##MR##_##NR(size_t kc, int first, int last, const uint16_t *a, size_t lda,              \
                                      const uint16_t *w, size_t ldw, float *buf, float beta, float *c, size_t ldc, \
                                      const uint16_t *pf, const uint16_t *pf_l1) {                                \
        tile(MR, NR, kc, first, last, a, lda, w, ldw, buf, beta, c, ldc, pf, pf_l1);                               \
    }
#define TILE_ROW(MR) TILE(MR, 1) TILE(MR, 2) TILE(MR, 3) TILE(MR, 4) TILE(MR, 5) TILE(MR, 6)
TILE_ROW(1) TILE_ROW(2) TILE_ROW(3) TILE_ROW(4) TILE_ROW(5) TILE_ROW(6)
#define TILE_REF(MR) {NULL, tile_##MR##_1, tile_##MR##_2, tile_##MR##_3, tile_##MR##_4, tile_##MR##_5, tile_##MR##_6}
static const tile_fn tiles[7][7] = {{NULL}, TILE_REF(1), TILE_REF(2), TILE_REF(3), TILE_REF(4), TILE_REF(5), TILE_REF(6)};
#if GEMM_MR > 6 || GEMM_NR > 6
#error "tile table covers GEMM_MR, GEMM_NR ≤ 6"
#endif

/* Block b of a thread's sequence: k block (b mod kblocks) of panel p0 + b / kblocks. */
struct block {
    const uint16_t *src; /* w at the block's first row and column */
    size_t nr, kc, lines; /* rows, columns, 64-byte lines (nr × ⌈kc / 32⌉) */
    size_t j0, k0;
};

static struct block block_at(size_t b, size_t p0, size_t n, size_t k, const uint16_t *w, size_t ldw) {
    size_t kblocks = (k + GEMM_KC - 1) / GEMM_KC, p = p0 + b / kblocks;
    struct block x;
    x.j0 = p * GEMM_NR;
    x.k0 = b % kblocks * GEMM_KC;
    x.nr = n - x.j0 < GEMM_NR ? n - x.j0 : GEMM_NR;
    x.kc = k - x.k0 < GEMM_KC ? k - x.k0 : GEMM_KC;
    x.lines = x.nr * ((x.kc + 31) / 32);
    x.src = w + x.j0 * ldw + x.k0;
    return x;
}

/* Lines [l0, l1) of block x (row-major over its rows) prefetched. */
static inline void prefetch_lines(const struct block *x, size_t l0, size_t l1, size_t ldw) {
    if (l0 >= l1) return;
    size_t per_row = (x->kc + 31) / 32, j = l0 / per_row, t = l0 % per_row * 32;
    for (size_t l = l0; l < l1; l++) {
        _mm_prefetch((const char *)(x->src + j * ldw + t), PREFETCH_HINT);
        t += 32;
        if (t >= x->kc) t = 0, j++;
    }
}

/* Panels [p0, p1) of GEMM_NR rows of w times every row of a (already bf16, row stride lda), as a
 * sequence of (panel, k block) blocks; the tiles read w where it is stored (GEMM_NR rows at any
 * stride share at most GEMM_NR ways of an L1 set) while they prefetch the block PREFETCH_BLOCKS on. */
static void panels(size_t p0, size_t p1, size_t m, size_t n, size_t k, const uint16_t *a, size_t lda,
                   const uint16_t *w, size_t ldw, float *buf, float beta, float *c, size_t ldc) {
    /* The rows shared out evenly: `extra` tiles of base + 1 rows, then tiles of base rows (m = 80: ten
     * of 6 and four of 5, not thirteen of 6 and a slow one of 2). */
    size_t mtiles = (m + GEMM_MR - 1) / GEMM_MR, kblocks = (k + GEMM_KC - 1) / GEMM_KC;
    size_t base = m / mtiles, extra = m % mtiles;
    size_t count = (p1 - p0) * kblocks;
    for (size_t d = 0; d < PREFETCH_BLOCKS && d < count; d++) {
        struct block ahead = block_at(d, p0, n, k, w, ldw);
        prefetch_lines(&ahead, 0, ahead.lines, ldw);
    }
    for (size_t b = 0; b < count; b++) {
        struct block cur = block_at(b, p0, n, k, w, ldw), ahead = cur, next = cur;
        int has_ahead = b + PREFETCH_BLOCKS < count, has_next = b + 1 < count;
        if (has_ahead) ahead = block_at(b + PREFETCH_BLOCKS, p0, n, k, w, ldw);
        if (has_next) next = block_at(b + 1, p0, n, k, w, ldw);
        int first = cur.k0 == 0, last = cur.k0 + cur.kc >= k;
        for (size_t t = 0; t < mtiles; t++) {
            size_t i0 = t * base + (t < extra ? t : extra), mr = base + (t < extra);
            /* Tile t prefetches row t of the block ahead into L2 (rows the tiles do not cover: after
             * them); the last GEMM_NR tiles bring the next block's rows into L1, one row each. */
            const uint16_t *pf = has_ahead && t < ahead.nr ? ahead.src + t * ldw : NULL;
            size_t row = t + GEMM_NR - mtiles; /* wraps (≥ nr) for the earlier tiles */
            const uint16_t *pf_l1 = has_next && t + GEMM_NR >= mtiles && row < next.nr ? next.src + row * ldw : NULL;
            tiles[mr][cur.nr](cur.kc, first, last, a + i0 * lda + cur.k0, lda, cur.src, ldw,
                              buf ? buf + t * GEMM_MR * GEMM_NR * 16 : NULL, beta, c + i0 * ldc + cur.j0, ldc, pf,
                              pf_l1);
        }
        if (has_ahead && mtiles < ahead.nr)
            prefetch_lines(&ahead, mtiles * (ahead.lines / ahead.nr), ahead.lines, ldw);
    }
}

struct gemm_job {
    int parts;
    size_t m, n, k, ldx, ldw, ldy, lda16;
    const float *x;
    uint16_t *a16;
    const uint16_t *w;
    float beta;
    float *y;
    int failed;
};

/* Part t of `parts`: get its accumulator buffer and round its share of a's rows, wait for the
 * others, then compute its panels unless some part lacked memory (c then stays untouched). */
static void gemm_part(struct gemm_job *j, int t, int parts, void (*barrier)(void)) {
    float *buf = NULL;
    struct scratch_set *s = thread_scratch();
    if (s) {
        size_t mtiles = (j->m + GEMM_MR - 1) / GEMM_MR;
        if (j->k > GEMM_KC) buf = (float *)grow(&s->acc, mtiles * GEMM_MR * GEMM_NR * 16 * sizeof(float));
    }
    if (j->k > GEMM_KC && !buf) __atomic_store_n(&j->failed, 1, __ATOMIC_RELAXED);
    size_t r0 = j->m * (size_t)t / (size_t)parts, r1 = j->m * (size_t)(t + 1) / (size_t)parts;
    for (size_t r = r0; r < r1; r++) yopo_f32_to_bf16(j->x + r * j->ldx, j->a16 + r * j->lda16, j->k);
    if (barrier) barrier();
    if (__atomic_load_n(&j->failed, __ATOMIC_RELAXED)) return;
    size_t count = (j->n + GEMM_NR - 1) / GEMM_NR;
    size_t p0 = count * (size_t)t / (size_t)parts, p1 = count * (size_t)(t + 1) / (size_t)parts;
    /* k in spans whose rows of a fit L2 next to the rest (A_SPAN_BYTES), each a whole number of k
     * blocks; the first span applies beta, the others add to c. */
    size_t spans = (j->m * j->k * sizeof(uint16_t) + A_SPAN_BYTES - 1) / A_SPAN_BYTES;
    size_t span = (j->k + spans - 1) / spans;
    span = (span + GEMM_KC - 1) / GEMM_KC * GEMM_KC;
    for (size_t k0 = 0; k0 < j->k; k0 += span) {
        size_t ks = j->k - k0 < span ? j->k - k0 : span;
        panels(p0, p1, j->m, j->n, ks, j->a16 + k0, j->lda16, j->w + k0, j->ldw, buf, k0 == 0 ? j->beta : 1, j->y,
               j->ldy);
    }
}

#if defined(__linux__)
extern void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
extern void GOMP_barrier(void);
extern int omp_get_thread_num(void);
extern int omp_get_num_threads(void);

/* The team libgomp grants (possibly fewer threads than asked) shares the work out among itself. */
static void gemm_region(void *data) {
    gemm_part((struct gemm_job *)data, omp_get_thread_num(), omp_get_num_threads(), GOMP_barrier);
}
#endif
#endif /* YOPO_GEMM_X86 */

int yopo_gemm_bf16_available(void) {
#if YOPO_GEMM_X86
    return yopo_kernels_level() >= YOPO_LEVEL_AVX512 && yopo_cpu_has_avx512_bf16();
#else
    return 0;
#endif
}

int yopo_gemm_bf16_mt(int threads, size_t m, size_t n, size_t k, const float *x, size_t ldx, const uint16_t *w,
                      size_t ldw, float beta, float *y, size_t ldy) {
#if YOPO_GEMM_X86
    if (!yopo_gemm_bf16_available()) return -1;
    if (m == 0 || n == 0) return 0;
    if (k == 0) {
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++) y[i * ldy + j] = beta == 0 ? 0 : beta * y[i * ldy + j];
        return 0;
    }
    struct scratch_set *s = thread_scratch();
    /* 64-byte rows, plus one cache line so the rows of a tile do not share L1 sets (k = 4096: 8 KB apart) */
    size_t lda16 = ((k + 31) & ~(size_t)31) + 32;
    uint16_t *a16 = s ? (uint16_t *)grow(&s->a, m * lda16 * sizeof(uint16_t)) : NULL;
    if (!a16) return -1;
    struct gemm_job j = {threads < 1 ? 1 : threads, m, n, k, ldx, ldw, ldy, lda16, x, a16, w, beta, y, 0};
#if defined(__linux__)
    if (j.parts > 1) {
        yopo_gomp_parallel(gemm_region, &j, (unsigned)j.parts);
        return j.failed ? -1 : 0;
    }
#endif
    gemm_part(&j, 0, 1, NULL);
    return j.failed ? -1 : 0;
#else
    (void)threads; (void)m; (void)n; (void)k; (void)x; (void)ldx; (void)w; (void)ldw; (void)beta; (void)y; (void)ldy;
    return -1;
#endif
}
