#pragma once
#include <cblas.h>
/* OpenBLAS extensions used to size the thread pool. */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
