/* pool.c — a pool of worker threads that runs clconv_process_file over many
 * images from a shared queue, each worker bound to a device, reporting each
 * image as it finishes; one failure costs one image. A stop (job->stop)
 * starts no new image and abandons one still waiting on a pipe.
 * It must not touch pixels: each image is clconv_process_file's.
 */
#define _POSIX_C_SOURCE 200809L
#include "clconv.h"
#include "io/io.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct pool {
    const clconv_job *job;
    const char *const *inputs;
    const char *const *outputs;
    int n, next;
    clconv_status first_fail;
    int first_fail_index;
    clconv_report_fn fn;
    void *user;
    pthread_mutex_t lock;
} pool;

typedef struct worker_arg {
    pool *p;
    clconv_job job; /* the pool's job, bound to this worker's device */
} worker_arg;

static void *worker(void *arg)
{
    worker_arg *wa = arg;
    pool *p = wa->p;
    clconv_report *r = malloc(sizeof *r);
    /* A read waiting on a pipe or FIFO gives up when the batch is stopped. */
    clconv__io_set_stop(p->job->stop);
    for (;;) {
        int i;
        pthread_mutex_lock(&p->lock);
        i = p->next < p->n && !(p->job->stop && *p->job->stop) ? p->next++ : -1;
        pthread_mutex_unlock(&p->lock);
        if (i < 0) break;
        if (!r) {
            /* Without memory for a report the image still counts as failed. */
            pthread_mutex_lock(&p->lock);
            if (p->first_fail_index < 0 || i < p->first_fail_index) {
                p->first_fail = CLCONV_E_NOMEM;
                p->first_fail_index = i;
            }
            pthread_mutex_unlock(&p->lock);
            continue;
        }
        clconv_process_file(&wa->job, p->inputs[i], p->outputs[i], r);
        /* Abandoned by the stop while it waited for its data: not started. */
        if (r->status != CLCONV_OK && p->job->stop && *p->job->stop &&
            clconv__io_interrupted())
            continue;
        pthread_mutex_lock(&p->lock);
        if (r->status != CLCONV_OK &&
            (p->first_fail_index < 0 || i < p->first_fail_index)) {
            p->first_fail = r->status;
            p->first_fail_index = i;
        }
        if (p->fn) p->fn(r, p->user);
        pthread_mutex_unlock(&p->lock);
    }
    clconv__io_set_stop(NULL);
    free(r);
    return NULL;
}

clconv_status clconv_batch_run(const clconv_job *job, int n,
                               const char *const *inputs,
                               const char *const *outputs, int jobs,
                               clconv_report_fn fn, void *user)
{
    pool p;
    pthread_t *th = NULL;
    worker_arg *wa = NULL;
    int i, started = 0;

    memset(&p, 0, sizeof p);
    p.job = job;
    p.inputs = inputs;
    p.outputs = outputs;
    p.n = n;
    p.fn = fn;
    p.user = user;
    p.first_fail = CLCONV_OK;
    p.first_fail_index = -1;
    if (pthread_mutex_init(&p.lock, NULL) != 0) return CLCONV_E_NOMEM;
    if (jobs < 1) jobs = 1;
    if (jobs > n) jobs = n > 0 ? n : 1;
    wa = calloc((size_t)jobs, sizeof *wa);
    if (!wa) {
        pthread_mutex_destroy(&p.lock);
        return CLCONV_E_NOMEM;
    }
    for (i = 0; i < jobs; i++) {
        wa[i].p = &p;
        wa[i].job = *job;
        if (job->ndevices > 0) wa[i].job.cl = job->devices[i % job->ndevices];
    }
    if (jobs > 1) th = calloc((size_t)jobs - 1, sizeof *th);
    if (th) {
        for (i = 0; i < jobs - 1; i++)
            if (pthread_create(&th[started], NULL, worker, &wa[i + 1]) == 0)
                started++;
    }
    /* The calling thread works too; without threads it does everything. */
    worker(&wa[0]);
    for (i = 0; i < started; i++) pthread_join(th[i], NULL);
    free(th);
    free(wa);
    pthread_mutex_destroy(&p.lock);
    return p.first_fail;
}
