/* Store handles for the request threads. A handle serves one thread at a
 * time (store.h), so a request borrows one and gives it back. At most
 * --store-handles are open (default 32); a request waits (on a condition
 * variable) when all are lent. A request keeps its handle while it waits
 * for its group commit (dmsec_store_durable), whose leader writes through
 * its own handle, so the pool should be about as large as the number of
 * clients served at once. */
#include <pthread.h>
#include <stdlib.h>

#include "dmsec/errors.h"
#include "server.h"

#define POOL_MAX 256

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t freed = PTHREAD_COND_INITIALIZER;
static dmsec_store_t *idle[POOL_MAX];
static size_t n_idle;
static size_t n_open;
static size_t max_open = 1;
static const char *store_uri;

int storepool_init(const char *uri, long handles)
{
    store_uri = uri;
    max_open = handles < 1 ? 1 : handles > POOL_MAX ? POOL_MAX : (size_t)handles;
    dmsec_store_t *st = NULL;
    int rc = dmsec_store_open(uri, &st);
    if (rc)
        return rc;
    pthread_mutex_lock(&mu);
    idle[n_idle++] = st;
    n_open++;
    pthread_mutex_unlock(&mu);
    return DMSEC_OK;
}

dmsec_store_t *storepool_get(void)
{
    pthread_mutex_lock(&mu);
    while (!n_idle && n_open >= max_open)
        pthread_cond_wait(&freed, &mu);
    dmsec_store_t *st = NULL;
    if (n_idle) {
        st = idle[--n_idle];
        pthread_mutex_unlock(&mu);
        return st;
    }
    n_open++; /* reserved; opened outside the lock */
    pthread_mutex_unlock(&mu);
    if (dmsec_store_open(store_uri, &st) == DMSEC_OK)
        return st;
    log_msg(LOG_ERROR, "store: cannot open %s", store_uri);
    pthread_mutex_lock(&mu);
    n_open--;
    pthread_cond_signal(&freed);
    pthread_mutex_unlock(&mu);
    return NULL;
}

void storepool_put(dmsec_store_t *st)
{
    if (!st)
        return;
    pthread_mutex_lock(&mu);
    idle[n_idle++] = st; /* n_idle <= n_open <= POOL_MAX */
    pthread_cond_signal(&freed);
    pthread_mutex_unlock(&mu);
}

void storepool_close_all(void)
{
    pthread_mutex_lock(&mu);
    while (n_idle) {
        dmsec_store_close(idle[--n_idle]);
        n_open--;
    }
    pthread_mutex_unlock(&mu);
}
