#include "allocation_counter.h"

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>

static atomic_long counted;
static atomic_int counting;

void yopo_allocation_counting(int on) { atomic_store(&counting, on); }
long yopo_allocation_count(void) { return atomic_load(&counted); }

#if defined(__GLIBC__)
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static inline void note(void) {
    if (atomic_load_explicit(&counting, memory_order_relaxed)) atomic_fetch_add_explicit(&counted, 1, memory_order_relaxed);
}

int yopo_allocation_counting_supported(void) { return 1; }

void *malloc(size_t n) {
    note();
    return __libc_malloc(n);
}
void *calloc(size_t count, size_t n) {
    note();
    return __libc_calloc(count, n);
}
void *realloc(void *p, size_t n) {
    note();
    return __libc_realloc(p, n);
}
void free(void *p) { __libc_free(p); }
void *memalign(size_t alignment, size_t n) {
    note();
    return __libc_memalign(alignment, n);
}
void *aligned_alloc(size_t alignment, size_t n) {
    note();
    return __libc_memalign(alignment, n);
}
int posix_memalign(void **out, size_t alignment, size_t n) {
    note();
    void *p = __libc_memalign(alignment, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
#else
int yopo_allocation_counting_supported(void) { return 0; }
#endif
