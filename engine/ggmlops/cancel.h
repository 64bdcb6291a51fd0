typedef struct natter_cancel natter_cancel;

natter_cancel *natter_cancel_new(void);
void natter_cancel_free(natter_cancel *c);
void natter_cancel_set(natter_cancel *c, int v);
long natter_cancel_checks(natter_cancel *c);
long natter_cancel_stops(natter_cancel *c);
void natter_cancel_watch(natter_cancel *c);
int natter_cancel_install(void *backend);
void natter_sched_reset(void *sched);
