/* worker.c - worker threads, each with its own libev loop; calls queued to
 * a worker from any thread; running a function on every worker and
 * waiting for it; holding every worker still while the control thread
 * changes what they read. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/util.h"
#include "core/runtime.h"

static __thread struct coop_worker *self;

struct coop_worker *coop_worker_self(void)
{
	return self;
}

int coop_worker_call(struct coop_worker *w, void (*fn)(struct coop_worker *, void *), void *arg)
{
	struct coop_call *call = malloc(sizeof(*call));

	if (!call)
		return -ENOMEM;
	call->fn = fn;
	call->arg = arg;
	pthread_mutex_lock(&w->lock);
	call->next = w->calls;
	w->calls = call;
	pthread_mutex_unlock(&w->lock);
	ev_async_send(w->loop, &w->wake);
	return 0;
}

/* coop_worker_call that cannot fail: a call the runtime depends on (a
 * stop, a barrier) waits for memory rather than being lost. */
static void call_sure(struct coop_worker *w, void (*fn)(struct coop_worker *, void *), void *arg)
{
	while (coop_worker_call(w, fn, arg) < 0)
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
}

static void wake_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	struct coop_worker *w = container_of(a, struct coop_worker, wake);
	struct coop_call *list, *rev = NULL, *next;

	(void)loop;
	(void)revents;
	pthread_mutex_lock(&w->lock);
	list = w->calls;
	w->calls = NULL;
	pthread_mutex_unlock(&w->lock);
	for (; list; list = next) { /* LIFO -> FIFO */
		next = list->next;
		list->next = rev;
		rev = list;
	}
	for (; rev; rev = next) {
		next = rev->next;
		rev->fn(w, rev->arg);
		free(rev);
	}
}

/* --- every worker at once ------------------------------------------------- */

struct run_arg {
	void (*fn)(struct coop_worker *, void *); /* what to run */
	void *arg;                                /* its argument */
};

static void run_one(struct coop_worker *w, void *p)
{
	struct run_arg *ra = p;
	struct coop_park *pk = &w->coop->park;

	if (ra->fn)
		ra->fn(w, ra->arg);
	pthread_mutex_lock(&pk->lock);
	pk->done++;
	pthread_cond_broadcast(&pk->cond);
	pthread_mutex_unlock(&pk->lock);
}

void coop_workers_run(struct coop *c, void (*fn)(struct coop_worker *, void *), void *arg)
{
	struct run_arg ra = { fn, arg };
	struct coop_park *pk = &c->park;
	unsigned i, n = 0;

	if (!c->running)
		return;
	pthread_mutex_lock(&pk->lock);
	pk->done = 0;
	pthread_mutex_unlock(&pk->lock);
	for (i = 0; i < c->n_workers; i++) {
		if (!c->workers[i].started)
			continue;
		call_sure(&c->workers[i], run_one, &ra);
		n++;
	}
	pthread_mutex_lock(&pk->lock);
	while (pk->done < n)
		pthread_cond_wait(&pk->cond, &pk->lock);
	pthread_mutex_unlock(&pk->lock);
}

static void park_one(struct coop_worker *w, void *arg)
{
	struct coop_park *pk = &w->coop->park;

	(void)arg;
	pthread_mutex_lock(&pk->lock);
	pk->parked++;
	pthread_cond_broadcast(&pk->cond);
	while (pk->hold)
		pthread_cond_wait(&pk->cond, &pk->lock);
	pk->parked--;
	pthread_cond_broadcast(&pk->cond);
	pthread_mutex_unlock(&pk->lock);
}

void coop_workers_park(struct coop *c)
{
	struct coop_park *pk = &c->park;
	unsigned i, n = 0;

	if (!c->running)
		return;
	pthread_mutex_lock(&pk->lock);
	pk->hold = true;
	pthread_mutex_unlock(&pk->lock);
	for (i = 0; i < c->n_workers; i++) {
		if (!c->workers[i].started)
			continue;
		call_sure(&c->workers[i], park_one, NULL);
		n++;
	}
	pthread_mutex_lock(&pk->lock);
	while (pk->parked < n)
		pthread_cond_wait(&pk->cond, &pk->lock);
	pthread_mutex_unlock(&pk->lock);
}

void coop_workers_unpark(struct coop *c)
{
	struct coop_park *pk = &c->park;

	if (!c->running)
		return;
	/* Every change of the VS table happens in a park: the limit counters
	 * follow it while nobody looks them up. */
	if (coop_conn_vs_sync(c) < 0)
		coop_warn("out of memory: some VSes count no connection refusals");
	pthread_mutex_lock(&pk->lock);
	pk->hold = false;
	pthread_cond_broadcast(&pk->cond);
	/* Wait for them to leave, so a park right after cannot count a
	 * worker still on its way out of this one. */
	while (pk->parked)
		pthread_cond_wait(&pk->cond, &pk->lock);
	pthread_mutex_unlock(&pk->lock);
}

/* --- start and stop ---------------------------------------------------------- */

static void *worker_main(void *arg)
{
	struct coop_worker *w = arg;
	struct coop *c = w->coop;
	size_t i;

	self = w;
	for (i = 0; i < c->n_mods; i++)
		if (c->mods[i]->worker_start)
			c->mods[i]->worker_start(c, w);
	ev_run(w->loop, 0);
	self = NULL;
	return NULL;
}

/* How often a stopping worker looks at the connections still flushing. */
#define STOP_POLL 0.02

/* A stopping worker: connections step towards their close until none is
 * left or stop_grace ends; then the loop ends. */
static void stop_poll(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct coop_worker *w = container_of(t, struct coop_worker, stop_timer);
	bool force = ev_now(loop) >= w->stop_deadline;
	uint64_t left = atomic_load_explicit(&w->n_conns, memory_order_relaxed);

	(void)revents;
	if (force)
		coop_warn("worker %u: stop_grace over: closing %llu connections that still "
			  "owed output", w->id, (unsigned long long)left);
	if (!coop_conn_stop_step(w, force))
		return;
	ev_timer_stop(loop, t);
	ev_break(loop, EVBREAK_ALL);
}

/* Runs on the worker: stop accepting, let the connections finish (at most
 * stop_grace), leave the loop. */
static void worker_stop(struct coop_worker *w, void *arg)
{
	struct coop *c = w->coop;
	size_t i;

	(void)arg;
	w->stopping = true;
	for (i = c->n_mods; i-- > 0;)
		if (c->mods[i]->worker_stop)
			c->mods[i]->worker_stop(c, w);
	ev_now_update(w->loop);
	w->stop_began = ev_now(w->loop);
	w->stop_deadline = w->stop_began + c->stop_grace;
	if (c->stop_grace <= 0. || coop_conn_stop_step(w, false)) {
		coop_conn_close_all(w);
		ev_break(w->loop, EVBREAK_ALL);
		return;
	}
	ev_timer_init(&w->stop_timer, stop_poll, STOP_POLL, STOP_POLL);
	ev_timer_start(w->loop, &w->stop_timer);
}

void coop_workers_stop(struct coop *c)
{
	unsigned i;

	c->running = false;
	c->stop_grace = c->cfg ? c->cfg->global.stop_grace_ms / 1000.0 : 0.;
	/* All at once, then wait: their grace periods run side by side. */
	for (i = 0; c->workers && i < c->n_workers; i++)
		if (c->workers[i].started)
			call_sure(&c->workers[i], worker_stop, NULL);
	for (i = 0; c->workers && i < c->n_workers; i++) {
		struct coop_worker *w = &c->workers[i];

		if (!w->started)
			continue;
		pthread_join(w->thread, NULL);
		w->started = false;
	}
}

void coop_workers_free(struct coop *c)
{
	unsigned i;

	if (!c->workers)
		return;
	for (i = 0; i < c->n_workers; i++) {
		struct coop_worker *w = &c->workers[i];

		while (w->calls) {
			struct coop_call *next = w->calls->next;

			free(w->calls);
			w->calls = next;
		}
		if (w->loop)
			ev_loop_destroy(w->loop);
		pthread_mutex_destroy(&w->lock);
	}
	free(c->workers);
	c->workers = NULL;
	coop_conn_vs_free(c);
}

int coop_workers_start(struct coop *c, char *err, size_t errlen)
{
	sigset_t all, old;
	unsigned i;
	int ret;

	c->workers = calloc(c->n_workers, sizeof(*c->workers));
	if (!c->workers) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < c->n_workers; i++) {
		struct coop_worker *w = &c->workers[i];

		w->coop = c;
		w->id = i;
		pthread_mutex_init(&w->lock, NULL);
		w->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
		if (!w->loop) {
			snprintf(err, errlen, "worker %u: cannot create an event loop", i);
			return -ENOMEM;
		}
		ev_async_init(&w->wake, wake_cb);
		ev_async_start(w->loop, &w->wake);
	}
	/* The limits before any connection: every VS's counters, [global]
	 * max_connections (and again after each reload). */
	if (coop_conn_vs_sync(c) < 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	coop_conn_global_apply(c);
	/* Workers inherit a mask with every signal blocked: signals are the
	 * control thread's business. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (i = 0; i < c->n_workers; i++) {
		ret = pthread_create(&c->workers[i].thread, NULL, worker_main, &c->workers[i]);
		if (ret) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			snprintf(err, errlen, "worker %u: %s", i, strerror(ret));
			return -ret;
		}
		c->workers[i].started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	c->running = true;
	return 0;
}
