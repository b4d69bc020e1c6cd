/* The oneDNN (libdnnl) front: bf16 × bf16 → fp32 matmul with strided operands. oneDNN's own
 * primitive cache makes re-creating the primitive per call cheap. Linux only; elsewhere every
 * entry reports "absent" and callers use the portable path. */
#include "yopo_kernels.h"

#if defined(__linux__) && __has_include(<oneapi/dnnl/dnnl.h>)
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <string.h>
#include <stdio.h>

extern void omp_set_num_threads(int);

static dnnl_engine_t engine;
static dnnl_stream_t stream;
static int usable;
static char version[32];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static dnnl_status_t create(size_t m, size_t n, size_t k, size_t lda, size_t ldw, size_t ldc, float beta,
                            dnnl_primitive_t *out, const char **impl) {
    dnnl_memory_desc_t a, w, c;
    dnnl_dims_t da = {(dnnl_dim_t)m, (dnnl_dim_t)k}, sa = {(dnnl_dim_t)lda, 1};
    dnnl_dims_t dw = {(dnnl_dim_t)k, (dnnl_dim_t)n}, sw = {1, (dnnl_dim_t)ldw};
    dnnl_dims_t dc = {(dnnl_dim_t)m, (dnnl_dim_t)n}, sc = {(dnnl_dim_t)ldc, 1};
    dnnl_status_t s;
    if ((s = dnnl_memory_desc_init_by_strides(&a, 2, da, dnnl_bf16, sa))) return s;
    if ((s = dnnl_memory_desc_init_by_strides(&w, 2, dw, dnnl_bf16, sw))) return s;
    if ((s = dnnl_memory_desc_init_by_strides(&c, 2, dc, dnnl_f32, sc))) return s;
    dnnl_matmul_desc_t md;
    if ((s = dnnl_matmul_desc_init(&md, &a, &w, NULL, &c))) return s;
    dnnl_primitive_attr_t attr = NULL;
    if (beta != 0) {
        dnnl_post_ops_t ops;
        dnnl_post_ops_create(&ops);
        dnnl_post_ops_append_sum(ops, beta);
        dnnl_primitive_attr_create(&attr);
        dnnl_primitive_attr_set_post_ops(attr, ops);
        dnnl_post_ops_destroy(ops);
    }
    dnnl_primitive_desc_t pd;
    s = dnnl_primitive_desc_create(&pd, &md, attr, engine, NULL);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (s) return s;
    if (impl) dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, impl);
    s = dnnl_primitive_create(out, pd);
    dnnl_primitive_desc_destroy(pd);
    return s;
}

static void init(void) {
    const dnnl_version_t *v = dnnl_version();
    snprintf(version, sizeof version, "%d.%d.%d", v->major, v->minor, v->patch);
    if (dnnl_engine_create(&engine, dnnl_cpu, 0) || dnnl_stream_create(&stream, engine, dnnl_stream_default_flags))
        return;
    /* Only a real bf16 kernel counts (avx512_core_bf16 or AMX): oneDNN falls back to reference loops
     * on CPUs without one. */
    dnnl_primitive_t p;
    const char *impl = "";
    if (create(64, 64, 64, 64, 64, 64, 0, &p, &impl) == dnnl_success) {
        usable = strstr(impl, "ref") == NULL && (strstr(impl, "bf16") != NULL || strstr(impl, "amx") != NULL);
        dnnl_primitive_destroy(p);
    }
}

int yopo_dnnl_bf16_available(void) {
    pthread_once(&once, init);
    return usable;
}

const char *yopo_dnnl_version(void) {
    pthread_once(&once, init);
    return version;
}

void yopo_dnnl_set_threads(int n) { omp_set_num_threads(n < 1 ? 1 : n); }

int yopo_dnnl_matmul_bf16(size_t m, size_t n, size_t k, const uint16_t *a, size_t lda, const uint16_t *w, size_t ldw,
                          float beta, float *c, size_t ldc) {
    if (!yopo_dnnl_bf16_available()) return -1;
    dnnl_primitive_t p;
    if (create(m, n, k, lda, ldw, ldc, beta, &p, NULL) != dnnl_success) return -2;
    dnnl_memory_desc_t ma, mw, mc;
    dnnl_primitive_desc_t pd;
    dnnl_primitive_get_primitive_desc(p, (const_dnnl_primitive_desc_t *)&pd);
    ma = *dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    mw = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    mc = *dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    dnnl_memory_t xa, xw, xc;
    dnnl_memory_create(&xa, &ma, engine, (void *)a);
    dnnl_memory_create(&xw, &mw, engine, (void *)w);
    dnnl_memory_create(&xc, &mc, engine, c);
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, xa}, {DNNL_ARG_WEIGHTS, xw}, {DNNL_ARG_DST, xc}};
    dnnl_status_t s = dnnl_primitive_execute(p, stream, 3, args);
    dnnl_stream_wait(stream);
    dnnl_memory_destroy(xa);
    dnnl_memory_destroy(xw);
    dnnl_memory_destroy(xc);
    dnnl_primitive_destroy(p);
    return s == dnnl_success ? 0 : -3;
}

#else

int yopo_dnnl_bf16_available(void) { return 0; }
const char *yopo_dnnl_version(void) { return ""; }
void yopo_dnnl_set_threads(int n) { (void)n; }
int yopo_dnnl_matmul_bf16(size_t m, size_t n, size_t k, const uint16_t *a, size_t lda, const uint16_t *w, size_t ldw,
                          float beta, float *c, size_t ldc) {
    (void)m; (void)n; (void)k; (void)a; (void)lda; (void)w; (void)ldw; (void)beta; (void)c; (void)ldc;
    return -1;
}
#endif
