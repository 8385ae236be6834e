/*
 * File reads with a deadline, for hashing executables (Linux). Part of the optional native addon.
 *
 * A process's executable may live on a file system that no longer answers (a hard NFS mount whose
 * server is gone, a FUSE daemon that is stopped). open(), fstat() or read() of such a file blocks
 * in the kernel until the file system answers, maybe forever; done on Node.js's main thread that
 * stops the whole capture, and done on a libuv or worker thread it stops process exit, which
 * joins those threads. Here each call runs on a detached thread of our own while the caller waits
 * for at most `timeoutMs`. A call that misses its deadline is abandoned: the caller gets
 * -ETIMEDOUT, its thread is retired (a new one serves later calls), and when the call returns
 * after all, the retired thread closes what it opened and ends. Nobody joins those threads, so
 * exit() is never held up by one; the kernel ends them with the process.
 *
 * deadlineOpen(path: string, timeoutMs: number, label?: string) -> fd | -errno
 * deadlineFstat(fd: number, timeoutMs: number, label?: string) -> BigInt64Array [dev, ino, size, mtimeNs, ctimeNs] | -errno
 * deadlineStatMany(paths: string[], timeoutMs: number) -> (that of stat() | -errno)[], one hand-over for all
 * deadlineStatEach(paths: string[], timeoutMs: number) -> the same, every file on a thread of its own
 * deadlineRead(fd: number, buffer: Uint8Array, timeoutMs: number, label?: string) -> bytes read | -errno
 * deadlineClose(fd: number, timeoutMs: number, label?: string) -> 0 | -errno
 * deadlinePending() -> string[]   labels of abandoned calls that have not returned yet
 *
 * After a fstat or read of `fd` missed its deadline, the abandoned call owns `fd` and closes it
 * when it returns: the caller must not close it. Reads go through a buffer of this file, copied
 * out on success, so a late read never writes into memory the caller has reused. At most
 * DEADLINE_MAX_PENDING calls may be pending; further calls fail at once with -EAGAIN.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "deadline-io.h"

#define DEADLINE_MAX_PENDING 16
#define READ_MAX (1 << 20)

enum { OP_OPEN, OP_STAT, OP_FSTAT, OP_READ, OP_CLOSE, OP_STAT_MANY };
enum { JOB_RUNNING, JOB_DONE, JOB_ABANDONED };

typedef struct job {
  int op;
  int state;
  char *path;  /* OP_OPEN, OP_STAT (deadlineStatEach) */
  char *label; /* what the caller called it, for deadlinePending() */
  int fd;
  size_t len;
  char *buf;
  long result; /* fd, bytes, 0, or -errno */
  struct stat st;
  /* OP_STAT_MANY: n paths, each one's status and result; `progress` (under mu) counts those done */
  char **paths;
  size_t n;
  size_t progress;
  struct stat *sts;
  long *results;
  struct job *next; /* in the list of abandoned jobs */
} job_t;

typedef struct worker {
  pthread_cond_t wake;
  job_t *job;
  int once; /* ends after its first job (deadlineStatEach) */
} worker_t;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cv;
static int cv_ready = 0;
static worker_t *current = NULL; /* the idle worker that takes the next call, if any */
static job_t *abandoned = NULL;
static int npending = 0;

static void free_job(job_t *j) {
  for (size_t i = 0; j->paths && i < j->n; i++) free(j->paths[i]);
  free(j->paths);
  free(j->sts);
  free(j->results);
  free(j->path);
  free(j->label);
  free(j->buf);
  free(j);
}

static void run(job_t *j) {
  long r;
  switch (j->op) {
    case OP_OPEN:
      r = open(j->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
      break;
    case OP_STAT:
      r = stat(j->path, &j->st);
      break;
    case OP_FSTAT:
      r = fstat(j->fd, &j->st);
      break;
    case OP_READ:
      do r = read(j->fd, j->buf, j->len);
      while (r < 0 && errno == EINTR);
      break;
    case OP_STAT_MANY:
      /* One hand-over for many files; the caller's deadline applies to each one. */
      for (;;) {
        pthread_mutex_lock(&mu);
        size_t i = j->progress;
        int stop = j->state == JOB_ABANDONED || i >= j->n;
        pthread_mutex_unlock(&mu);
        if (stop) break;
        struct stat st;
        long one = stat(j->paths[i], &st) < 0 ? -errno : 0;
        pthread_mutex_lock(&mu);
        /* Abandoned meanwhile: the caller took the arrays and wants nothing more. */
        if (j->state != JOB_ABANDONED) {
          j->results[i] = one;
          if (one == 0) j->sts[i] = st;
          j->progress = i + 1;
        }
        pthread_mutex_unlock(&mu);
      }
      r = 0;
      break;
    default:
      r = close(j->fd);
      break;
  }
  j->result = r < 0 ? -errno : r;
}

/* Called with mu held: a call that returned after its caller gave up on it. */
static void bury(job_t *j) {
  for (job_t **p = &abandoned; *p; p = &(*p)->next) {
    if (*p == j) {
      *p = j->next;
      break;
    }
  }
  npending--;
  if (j->op == OP_OPEN && j->result >= 0) close((int)j->result);
  if ((j->op == OP_FSTAT || j->op == OP_READ) && j->fd >= 0) close(j->fd);
  free_job(j);
}

static void *serve(void *arg) {
  worker_t *self = arg;
  pthread_mutex_lock(&mu);
  for (;;) {
    while (self->job == NULL) pthread_cond_wait(&self->wake, &mu);
    job_t *j = self->job;
    pthread_mutex_unlock(&mu);
    run(j);
    pthread_mutex_lock(&mu);
    self->job = NULL;
    if (j->state == JOB_ABANDONED) {
      /* Retired: another worker serves calls now. */
      bury(j);
      break;
    }
    j->state = JOB_DONE;
    pthread_cond_broadcast(&done_cv);
    if (self->once) break;
  }
  pthread_mutex_unlock(&mu);
  pthread_cond_destroy(&self->wake);
  free(self);
  return NULL;
}

static void init_once(void) {
  if (cv_ready) return;
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&done_cv, &attr);
  pthread_condattr_destroy(&attr);
  cv_ready = 1;
}

/* A new idle worker, or NULL (errno set). Called with mu held. */
static worker_t *spawn_worker(void) {
  worker_t *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  pthread_cond_init(&w->wake, NULL);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  pthread_t t;
  int rc = pthread_create(&t, &attr, serve, w);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    pthread_cond_destroy(&w->wake);
    free(w);
    errno = rc;
    return NULL;
  }
  return w;
}

/* The moment `timeout_ms` from now on the monotonic clock (at most a day; NaN or less than 0: now). */
static struct timespec deadline_in(double timeout_ms) {
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  if (!(timeout_ms >= 0)) timeout_ms = 0;
  if (timeout_ms > 86400000.0) timeout_ms = 86400000.0;
  long long ns = (long long)(timeout_ms * 1e6);
  until.tv_sec += ns / 1000000000LL;
  until.tv_nsec += ns % 1000000000LL;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  return until;
}

/* What an abandoned OP_STAT_MANY job hands back: the files done before the deadline. */
typedef struct {
  size_t done;
  long *results;
  struct stat *sts;
} many_out_t;

/*
 * Runs `j` on the current worker and waits until it returns or `timeout_ms` passes. Returns the
 * call's result, or -ETIMEDOUT (the job is then abandoned and must not be touched; an
 * OP_STAT_MANY job first hands its arrays over to `out`), or another -errno when no call could
 * be made. Otherwise the caller frees `j`.
 */
static long call(job_t *j, double timeout_ms, many_out_t *out) {
  pthread_mutex_lock(&mu);
  init_once();
  if (npending >= DEADLINE_MAX_PENDING) {
    pthread_mutex_unlock(&mu);
    return -EAGAIN;
  }
  if (current == NULL && (current = spawn_worker()) == NULL) {
    long e = -errno;
    pthread_mutex_unlock(&mu);
    return e;
  }
  worker_t *w = current;
  j->state = JOB_RUNNING;
  w->job = j;
  pthread_cond_signal(&w->wake);
  struct timespec until = deadline_in(timeout_ms);
  size_t seen = 0;
  while (j->state != JOB_DONE) {
    if (pthread_cond_timedwait(&done_cv, &mu, &until) == ETIMEDOUT && j->state != JOB_DONE) {
      if (j->op == OP_STAT_MANY && j->progress > seen) {
        /* The deadline is each file's: one returned since, so the next one gets its own. */
        seen = j->progress;
        until = deadline_in(timeout_ms);
        continue;
      }
      if (j->op == OP_STAT_MANY && j->progress < j->n) {
        /* Named after the file it waits on. */
        char *stuck = strdup(j->paths[j->progress]);
        if (stuck) {
          free(j->label);
          j->label = stuck;
        }
      }
      if (out) {
        out->done = j->progress;
        out->results = j->results;
        out->sts = j->sts;
        j->results = NULL;
        j->sts = NULL;
      }
      j->state = JOB_ABANDONED;
      j->next = abandoned;
      abandoned = j;
      npending++;
      current = NULL; /* that worker retires when its call returns */
      pthread_mutex_unlock(&mu);
      return -ETIMEDOUT;
    }
  }
  pthread_mutex_unlock(&mu);
  return j->result;
}

static job_t *new_job(napi_env env, int op, napi_value label) {
  job_t *j = calloc(1, sizeof *j);
  if (!j) return NULL;
  j->op = op;
  j->fd = -1;
  size_t len = 0;
  if (label && napi_get_value_string_utf8(env, label, NULL, 0, &len) == napi_ok) {
    j->label = malloc(len + 1);
    if (j->label) napi_get_value_string_utf8(env, label, j->label, len + 1, &len);
  }
  return j;
}

static napi_value number(napi_env env, double v) {
  napi_value out;
  napi_create_double(env, v, &out);
  return out;
}

/* The call's arguments, missing ones NULL; the last (the label) only when it is a string. */
static int args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return 0;
  for (size_t i = argc; i < want; i++) argv[i] = NULL;
  napi_valuetype t;
  if (argv[want - 1] && (napi_typeof(env, argv[want - 1], &t) != napi_ok || t != napi_string)) argv[want - 1] = NULL;
  return 1;
}

/* A job for `path` (the first argument); the label defaults to the path. NULL: thrown or no memory. */
static job_t *path_job(napi_env env, napi_callback_info info, int op, double *timeout, int *thrown, const char *usage) {
  napi_value argv[3];
  size_t len = 0;
  *thrown = 0;
  if (!args(env, info, 3, argv) || !argv[0] || napi_get_value_string_utf8(env, argv[0], NULL, 0, &len) != napi_ok ||
      !argv[1] || napi_get_value_double(env, argv[1], timeout) != napi_ok) {
    napi_throw_type_error(env, "E_NATIVE", usage);
    *thrown = 1;
    return NULL;
  }
  job_t *j = new_job(env, op, argv[2] ? argv[2] : argv[0]);
  if (j) j->path = malloc(len + 1);
  if (!j || !j->path) {
    if (j) free_job(j);
    return NULL;
  }
  napi_get_value_string_utf8(env, argv[0], j->path, len + 1, &len);
  return j;
}

/* [dev, ino, size, mtimeNs, ctimeNs] as a BigInt64Array. */
static napi_value stat_values(napi_env env, const struct stat *st) {
  int64_t values[5] = {
      (int64_t)st->st_dev,
      (int64_t)st->st_ino,
      (int64_t)st->st_size,
      (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec,
      (int64_t)st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec,
  };
  void *data = NULL;
  napi_value ab, out;
  if (napi_create_arraybuffer(env, sizeof values, &data, &ab) != napi_ok) return NULL;
  memcpy(data, values, sizeof values);
  if (napi_create_typedarray(env, napi_bigint64_array, 5, ab, 0, &out) != napi_ok) return NULL;
  return out;
}

/* Runs a job whose result is a number (a descriptor, 0): that, or -errno. */
static napi_value number_call(napi_env env, job_t *j, double timeout) {
  long r = call(j, timeout, NULL);
  if (r != -ETIMEDOUT) free_job(j); /* an abandoned job is its worker's to free */
  return number(env, (double)r);
}

static napi_value deadline_open(napi_env env, napi_callback_info info) {
  double timeout = 0;
  int thrown;
  job_t *j = path_job(env, info, OP_OPEN, &timeout, &thrown, "deadlineOpen expects (path: string, timeoutMs: number, label?: string)");
  return j ? number_call(env, j, timeout) : thrown ? NULL : number(env, -ENOMEM);
}

static int fd_and_timeout(napi_env env, napi_value fdv, napi_value tv, int *fd, double *timeout) {
  return fdv && tv && napi_get_value_int32(env, fdv, fd) == napi_ok && napi_get_value_double(env, tv, timeout) == napi_ok;
}

/* A job on the descriptor of (fd, timeoutMs, label?). NULL: thrown (`*thrown`) or no memory. */
static job_t *fd_job(napi_env env, napi_callback_info info, int op, double *timeout, int *thrown, const char *usage) {
  napi_value argv[3];
  int fd = -1;
  *thrown = 0;
  if (!args(env, info, 3, argv) || !fd_and_timeout(env, argv[0], argv[1], &fd, timeout)) {
    napi_throw_type_error(env, "E_NATIVE", usage);
    *thrown = 1;
    return NULL;
  }
  job_t *j = new_job(env, op, argv[2]);
  if (j) j->fd = fd;
  return j;
}

static napi_value deadline_fstat(napi_env env, napi_callback_info info) {
  double timeout = 0;
  int thrown;
  job_t *j = fd_job(env, info, OP_FSTAT, &timeout, &thrown, "deadlineFstat expects (fd: number, timeoutMs: number, label?: string)");
  if (!j) return thrown ? NULL : number(env, -ENOMEM);
  long r = call(j, timeout, NULL);
  if (r == -ETIMEDOUT) return number(env, (double)r); /* an abandoned job is its worker's to free */
  napi_value out = r < 0 ? number(env, (double)r) : stat_values(env, &j->st);
  free_job(j);
  return out;
}

static napi_value deadline_read(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int fd = -1;
  double timeout = 0;
  napi_typedarray_type type;
  size_t length = 0;
  void *data = NULL;
  if (!args(env, info, 4, argv) || !argv[1] || !fd_and_timeout(env, argv[0], argv[2], &fd, &timeout) ||
      napi_get_typedarray_info(env, argv[1], &type, &length, &data, NULL, NULL) != napi_ok || type != napi_uint8_array) {
    napi_throw_type_error(env, "E_NATIVE", "deadlineRead expects (fd: number, buffer: Uint8Array, timeoutMs: number, label?: string)");
    return NULL;
  }
  job_t *j = new_job(env, OP_READ, argv[3]);
  if (!j) return number(env, -ENOMEM);
  j->fd = fd;
  j->len = length < READ_MAX ? length : READ_MAX;
  j->buf = malloc(j->len ? j->len : 1);
  if (!j->buf) {
    free_job(j);
    return number(env, -ENOMEM);
  }
  long r = call(j, timeout, NULL);
  if (r == -ETIMEDOUT) return number(env, (double)r);
  if (r > 0) memcpy(data, j->buf, (size_t)r);
  free_job(j);
  return number(env, (double)r);
}

static napi_value deadline_close(napi_env env, napi_callback_info info) {
  double timeout = 0;
  int thrown;
  job_t *j = fd_job(env, info, OP_CLOSE, &timeout, &thrown, "deadlineClose expects (fd: number, timeoutMs: number, label?: string)");
  /* An abandoned close keeps no descriptor: bury() closes only after fstat and read. */
  return j ? number_call(env, j, timeout) : thrown ? NULL : number(env, -ENOMEM);
}

/* The arguments (paths: string[], timeoutMs: number) and the number of paths; 0: thrown. */
static int paths_args(napi_env env, napi_callback_info info, napi_value *argv, uint32_t *n, double *timeout, const char *usage) {
  size_t argc = 2;
  bool is_array = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 || napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, argv[0], n) != napi_ok || napi_get_value_double(env, argv[1], timeout) != napi_ok) {
    napi_throw_type_error(env, "E_NATIVE", usage);
    return 0;
  }
  return 1;
}

/*
 * deadlineStatMany(paths: string[], timeoutMs: number) -> (BigInt64Array | number)[]: stat() of
 * each path on one thread, in order, with the deadline applying to each. When one misses it, its
 * entry is -ETIMEDOUT and those after it -EAGAIN (not tried).
 */
static napi_value deadline_stat_many(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  uint32_t n = 0;
  double timeout = 0;
  if (!paths_args(env, info, argv, &n, &timeout, "deadlineStatMany expects (paths: string[], timeoutMs: number)")) return NULL;
  job_t *j = calloc(1, sizeof *j);
  int ok = j != NULL;
  if (ok) {
    j->op = OP_STAT_MANY;
    j->fd = -1;
    j->n = n;
    j->paths = calloc(n ? n : 1, sizeof(char *));
    j->sts = calloc(n ? n : 1, sizeof(struct stat));
    j->results = calloc(n ? n : 1, sizeof(long));
    ok = j->paths && j->sts && j->results;
  }
  for (uint32_t i = 0; ok && i < n; i++) {
    napi_value v;
    size_t len = 0;
    if (napi_get_element(env, argv[0], i, &v) != napi_ok || napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
      if (j) free_job(j);
      napi_throw_type_error(env, "E_NATIVE", "deadlineStatMany expects (paths: string[], timeoutMs: number)");
      return NULL;
    }
    j->paths[i] = malloc(len + 1);
    ok = j->paths[i] != NULL;
    if (ok) napi_get_value_string_utf8(env, v, j->paths[i], len + 1, &len);
  }
  napi_value out;
  if (napi_create_array_with_length(env, n, &out) != napi_ok) {
    if (j) free_job(j);
    return NULL;
  }
  if (!ok) {
    if (j) free_job(j);
    for (uint32_t i = 0; i < n; i++) napi_set_element(env, out, i, number(env, -ENOMEM));
    return out;
  }
  many_out_t taken = {0, NULL, NULL};
  long r = n == 0 ? 0 : call(j, timeout, &taken);
  long *results = r == -ETIMEDOUT ? taken.results : j->results;
  struct stat *sts = r == -ETIMEDOUT ? taken.sts : j->sts;
  size_t done = r == -ETIMEDOUT ? taken.done : (r < 0 ? 0 : n);
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    if (i < done) v = results[i] < 0 ? number(env, (double)results[i]) : stat_values(env, &sts[i]);
    else if (r == -ETIMEDOUT) v = number(env, i == done ? -ETIMEDOUT : -EAGAIN);
    else v = number(env, (double)(r < 0 ? r : -EAGAIN));
    napi_set_element(env, out, i, v);
  }
  if (r == -ETIMEDOUT) {
    free(taken.results);
    free(taken.sts);
  } else {
    free_job(j);
  }
  return out;
}

/*
 * deadlineStatEach(paths: string[], timeoutMs: number) -> (BigInt64Array | number)[]: stat() of
 * every path at once, each on a thread of its own, all within one deadline; an entry that missed
 * it is -ETIMEDOUT, one that could not be started -EAGAIN. For when a file system is known not to
 * answer: files on it then cost one deadline together rather than one each.
 */
static napi_value deadline_stat_each(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  uint32_t n = 0;
  double timeout = 0;
  if (!paths_args(env, info, argv, &n, &timeout, "deadlineStatEach expects (paths: string[], timeoutMs: number)")) return NULL;
  job_t **jobs = calloc(n ? n : 1, sizeof(job_t *));
  napi_value out;
  if (napi_create_array_with_length(env, n, &out) != napi_ok) {
    free(jobs);
    return NULL;
  }
  for (uint32_t i = 0; jobs && i < n; i++) {
    napi_value v;
    size_t len = 0;
    if (napi_get_element(env, argv[0], i, &v) != napi_ok || napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) continue;
    job_t *j = new_job(env, OP_STAT, v);
    if (j) j->path = malloc(len + 1);
    if (!j || !j->path) {
      if (j) free_job(j);
      continue;
    }
    napi_get_value_string_utf8(env, v, j->path, len + 1, &len);
    jobs[i] = j;
  }
  pthread_mutex_lock(&mu);
  init_once();
  /* Start them all: each on a worker of its own that ends after it. */
  int started = 0;
  for (uint32_t i = 0; jobs && i < n; i++) {
    job_t *j = jobs[i];
    if (!j) continue;
    worker_t *w = npending + started < DEADLINE_MAX_PENDING ? spawn_worker() : NULL;
    if (!w) {
      j->result = -EAGAIN;
      j->state = JOB_DONE;
      continue;
    }
    w->once = 1;
    started++;
    j->state = JOB_RUNNING;
    w->job = j;
    pthread_cond_signal(&w->wake);
  }
  struct timespec until = deadline_in(timeout);
  for (;;) {
    int running = 0;
    for (uint32_t i = 0; jobs && i < n; i++) running += jobs[i] && jobs[i]->state == JOB_RUNNING;
    if (!running) break;
    if (pthread_cond_timedwait(&done_cv, &mu, &until) == ETIMEDOUT) break;
  }
  /* Read what returned, abandon what did not (its worker buries it when the call returns). */
  for (uint32_t i = 0; i < n; i++) {
    job_t *j = jobs ? jobs[i] : NULL;
    napi_value v;
    if (!j) {
      v = number(env, -ENOMEM);
    } else if (j->state == JOB_RUNNING) {
      j->state = JOB_ABANDONED;
      j->next = abandoned;
      abandoned = j;
      npending++;
      v = number(env, -ETIMEDOUT);
    } else {
      v = j->result < 0 ? number(env, (double)j->result) : stat_values(env, &j->st);
      free_job(j);
    }
    napi_set_element(env, out, i, v);
  }
  pthread_mutex_unlock(&mu);
  free(jobs);
  return out;
}

static napi_value deadline_pending(napi_env env, napi_callback_info info) {
  napi_value out;
  if (napi_create_array(env, &out) != napi_ok) return NULL;
  pthread_mutex_lock(&mu);
  uint32_t i = 0;
  for (job_t *j = abandoned; j; j = j->next) {
    napi_value s;
    if (napi_create_string_utf8(env, j->label ? j->label : "", NAPI_AUTO_LENGTH, &s) == napi_ok) napi_set_element(env, out, i++, s);
  }
  pthread_mutex_unlock(&mu);
  return out;
}

void deadline_io_init(napi_env env, napi_value exports) {
  static const struct {
    const char *name;
    napi_callback fn;
  } fns[] = {
      {"deadlineOpen", deadline_open},
      {"deadlineStatMany", deadline_stat_many},
      {"deadlineStatEach", deadline_stat_each},
      {"deadlineFstat", deadline_fstat},
      {"deadlineRead", deadline_read},
      {"deadlineClose", deadline_close},
      {"deadlinePending", deadline_pending},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value fn;
    if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &fn) == napi_ok)
      napi_set_named_property(env, exports, fns[i].name, fn);
  }
}
