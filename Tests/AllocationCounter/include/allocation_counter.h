#ifndef YOPO_ALLOCATION_COUNTER_H
#define YOPO_ALLOCATION_COUNTER_H

// Counts heap allocations (malloc, calloc, realloc, memalign, aligned_alloc, posix_memalign) made
// by any thread of the test process while counting is on. Test-only: the definitions interpose
// glibc's allocator for the whole process and forward to it.

/// 1 when allocations can be counted here (glibc), else 0.
int yopo_allocation_counting_supported(void);
/// Turns counting on (1) or off (0).
void yopo_allocation_counting(int on);
/// Allocations counted so far.
long yopo_allocation_count(void);

#endif
