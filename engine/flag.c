#include "flag.h"

bool natter_flag_cb(void *flag) { return __atomic_load_n((int *)flag, __ATOMIC_RELAXED) != 0; }
void natter_flag_set(int *flag, int v) { __atomic_store_n(flag, v, __ATOMIC_RELAXED); }
int natter_flag_get(int *flag) { return __atomic_load_n(flag, __ATOMIC_RELAXED); }
