/* YOPO's own CPU kernels (C, so the AVX-512 paths can use intrinsics) and the oneDNN
 * matmul front. Every entry point has a portable fallback; the AVX-512 paths are chosen
 * at run time from CPUID. Shapes are row-major; `ld*` are row strides in elements. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* Stored element types of a weight matrix (same order as Swift's `DType`). */
enum { YOPO_F32 = 0, YOPO_F16 = 1, YOPO_BF16 = 2 };

/* Kernel levels: 0 portable C, 1 AVX-512 (F + BW + VL). */
enum { YOPO_LEVEL_PORTABLE = 0, YOPO_LEVEL_AVX512 = 1 };

/* Highest level this CPU supports. */
int yopo_kernels_supported_level(void);
/* Level in use on the calling thread: its own level when set, else the supported one. The
 * libgomp regions of these kernels run their parts at the level of the thread that started them. */
int yopo_kernels_level(void);
/* Sets the calling thread's level, clamped to [0, supported] (negative: back to the supported
 * one); returns the level now in use on this thread. The execution context sets it. */
int yopo_kernels_set_thread_level(int level);
/* Runs fn(data) on a libgomp team of num_threads, each member at the caller's kernel level. */
void yopo_gomp_parallel(void (*fn)(void *), void *data, unsigned num_threads);
/* Whether the CPU has the AVX512_BF16 dot-product instructions. */
int yopo_cpu_has_avx512_bf16(void);

/* y[i, j] = sum_k x[i, k] * w[j, k] + beta * y[i, j] for i < m, j < n; w is F16 or BF16
 * (`dtype`), accumulated in fp32. Reads w once for all m rows (m small: decode). */
void yopo_gemv_half(int dtype, size_t m, size_t n, size_t k,
                    const float *x, size_t ldx, const uint16_t *w, size_t ldw,
                    float beta, float *y, size_t ldy);

/* y[i, j] = sum_k x[i, k] * w[j, k] + beta * y[i, j] with x and w both bfloat16, fp32 accumulation
 * (bf16 compute for decode). Uses AVX512_BF16 dot products when the CPU has them and the level is
 * AVX-512; otherwise widens x to fp32 and runs `yopo_gemv_half` (same products). */
void yopo_gemv_bf16(size_t m, size_t n, size_t k, const uint16_t *x, size_t ldx, const uint16_t *w, size_t ldw,
                    float beta, float *y, size_t ldy);

/* The two GEMVs above with the rows of w split over `threads` threads of libgomp, the OpenMP
 * runtime oneDNN already keeps warm (serial where libgomp is not linked). */
void yopo_gemv_half_mt(int threads, int dtype, size_t m, size_t n, size_t k, const float *x, size_t ldx,
                       const uint16_t *w, size_t ldw, float beta, float *y, size_t ldy);
void yopo_gemv_bf16_mt(int threads, size_t m, size_t n, size_t k, const uint16_t *x, size_t ldx, const uint16_t *w,
                       size_t ldw, float beta, float *y, size_t ldy);

/* Own bf16 GEMM for mid-size m (gemm_bf16.c): y[i, j] = sum_k bf16(x[i, k]) * w[j, k] + beta * y[i, j]
 * for i < m, j < n, with x fp32 (row stride ldx; rounded to bf16, nearest even, once per call into a
 * per-thread buffer), w bf16 [n, k] as stored (row stride ldw ≥ k, not packed), y fp32 (row stride
 * ldy), fp32 accumulation with VDPBF16PS, the rows of w split over `threads` libgomp threads.
 * Returns 0 when done; -1 with y untouched when the kernel is unavailable (see below) or scratch
 * memory could not be allocated. */
int yopo_gemm_bf16_mt(int threads, size_t m, size_t n, size_t k, const float *x, size_t ldx, const uint16_t *w,
                      size_t ldw, float beta, float *y, size_t ldy);
/* Whether `yopo_gemm_bf16_mt` runs: the CPU has AVX512_BF16 and the kernel level is AVX-512. */
int yopo_gemm_bf16_available(void);

/* Converts `rows` × `cols` elements of `dtype` (row stride `lds`) to fp32 (row stride `ldd`). */
void yopo_half_to_f32(int dtype, size_t rows, size_t cols, const uint16_t *src, size_t lds,
                      float *dst, size_t ldd);
/* Converts `count` fp32 to bfloat16, round-to-nearest-even (NaN stays NaN). */
void yopo_f32_to_bf16(const float *src, uint16_t *dst, size_t count);
/* Converts `rows` × `cols` F16/BF16/F32 elements (row stride `lds`) to bfloat16 (row stride `ldd`). */
void yopo_any_to_bf16(int dtype, size_t rows, size_t cols, const void *src, size_t lds,
                      uint16_t *dst, size_t ldd);

/* oneDNN (libdnnl) bf16 matmul: c[m, n] = a[m, k] · w[n, k]ᵀ + beta · c, a and w bf16, c fp32.
 * Returns 0 on success, non-zero when oneDNN is absent or refuses the shape. */
int yopo_dnnl_matmul_bf16(size_t m, size_t n, size_t k, const uint16_t *a, size_t lda,
                          const uint16_t *w, size_t ldw, float beta, float *c, size_t ldc);
/* Whether oneDNN is linked and has a bf16 matmul for this CPU that is not a reference loop. */
int yopo_dnnl_bf16_available(void);
/* oneDNN's version string ("2.6.3"), or "" when it is not linked. */
const char *yopo_dnnl_version(void);
/* Threads of the OpenMP runtime oneDNN runs on (no-op without oneDNN). */
void yopo_dnnl_set_threads(int n);

/* Sums `bytes` (a multiple of 64) of memory as 64-bit words: a read-bandwidth probe for the
 * decode bound. Returns the sum so the loads are not optimised away. */
uint64_t yopo_read_memory(const void *p, size_t bytes);

/* glibc: keep freed memory in the process (no trimming; mmap only above 32 MB). No-op elsewhere. */
void yopo_retain_freed_memory(void);

/* Runs fn(context, part) for every part in [0, parts) on libgomp's thread pool (the team oneDNN and
 * the GEMVs use; Linux), or one after another elsewhere or when parts <= 1. Parts must touch
 * disjoint memory. Makes no heap allocation once the pool exists. */
void yopo_parallel_for(int parts, void (*fn)(void *context, int part), void *context);

/* Softmax of `n` contiguous floats in place, AVX-512 (exp by range reduction + degree-6 polynomial,
 * about 1 ulp; inputs below max - 87.3, -inf included, give exactly 0). Returns 0 when the level is
 * portable and nothing was done (the caller runs its scalar loop). */
int yopo_softmax_avx512(float *p, size_t n);
