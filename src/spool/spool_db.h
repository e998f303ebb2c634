/*
 * spool_db.h - inside the spool: the Berkeley DB handles behind struct
 * spool.  Only the spool layer's own files (spool, queue, dedup,
 * replylimit, blocks, counters) and its white-box tests include this; everyone else holds
 * an opaque struct spool and goes through spool.h and the modules
 * beside it, as Postfix's mail_queue_* is the only door to its queue.
 */
#ifndef PB_SPOOL_DB_H
#define PB_SPOOL_DB_H

#include <db.h>
#include <pthread.h>
#include <string.h>

#include "spool/heal.h"
#include "spool/spool.h"

struct spool {
	DB_ENV *env;	/* NULL while not attached (heal.h) */
	DB *queue;	/* id -> entry record (queue.h) */
	DB *payload;	/* id -> payload bytes */
	DB *due;	/* be64 next_attempt || id -> route (queue.c) */
	DB *dedup;	/* fpr_len || fpr || digest -> packet record (dedup.h) */
	DB *dedupkey;	/* fpr_len || fpr -> key record */
	DB *msgid;	/* Message-ID -> record */
	DB *sent;	/* peer NUL fpr_len fpr digest -> time (outbound) */
	DB *peers;	/* peer NUL id -> "" for pending outbound entries */
	DB *replylimit;	/* requester -> reply rate bucket (replylimit.h) */
	DB *blocks;	/* fingerprint -> the operator's block (blocks.h) */
	DB *counters;	/* name -> monotonic counter (counters.h) */
	char *dir;
	int file_mode;
	int retry;	/* set by spool_dberr: the txn may be retried */
	int panic;	/* set by spool_dberr: environment needs recovery */
	char errbuf[256]; /* last message from Berkeley DB itself */
	long dead_pid;	/* is_alive: the last pid found dead, and how */
	unsigned long dead_asks; /* often in a row (a spin on its mutex) */
	pthread_t main_thread;	/* errbuf is this thread's */
	struct heal *heal;	/* attaching, recovering, the watcher */
};

/* dbt_init - a DBT over len bytes at p, every other field zero (as
 * Berkeley DB wants a DBT it is given). */
static inline void
dbt_init(DBT *d, void *p, size_t len)
{
	memset(d, 0, sizeof *d);
	d->data = p;
	d->size = (u_int32_t)len;
}

#endif
