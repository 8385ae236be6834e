/*
 * netmon native procfs scanner (Linux). Optional: netmon works without it, this only makes the
 * two hot loops of a scan faster and parallel: reading the socket tables and reading every
 * process's descriptor links. It returns raw columns and triples; decoding addresses and states,
 * attribution and every decision stay in TypeScript.
 *
 * readTables(paths: string[], sockDiag?: boolean, states?: number[]) -> ({ nums, addrs, hex, badLine, via } | number)[]
 *   split socket tables, rows presorted by (listening, local port, remote port) as a hint for the
 *   caller's sort. With sockDiag, the tables /proc/self/net/{tcp,tcp6,udp,udp6} (the caller's
 *   own network namespace) and /proc/<pid>/net/{...} (the namespace of process <pid>, entered
 *   by a short-lived thread, which needs CAP_SYS_ADMIN) are dumped through sock_diag netlink
 *   instead, in the same columns (the kernel formats no text, about twice as fast); any
 *   failure (no privilege, no diag module, an interrupted dump) falls back to reading the file.
 *   "<namespace file>:/proc/net/<table>" (e.g. an `ip netns` binding) names the table of that
 *   namespace, which is only dumped: on failure its result is the errno. states[i], a mask of
 *   (1 << kernel state number), limits the dump of paths[i] to sockets in those states (a file
 *   read still gives every row); by default every state a file lists (not bound-inactive).
 * readLinks(procRoot: string, pids: Int32Array) ->
 *   { triples: Float64Array (inode, pid, fd)*, denied: Int32Array, exited: Int32Array }
 * readFiles(paths: string[], links?: Uint8Array) -> { bytes, offsets, errors }
 *   whole files (or link targets) at once: the small /proc files of every process.
 *
 * All three spread the work over up to four threads (one per online CPU) that take tasks from an
 * atomic counter. Descriptors are read with readlinkat() relative to an open /proc/<pid>/fd
 * directory, which spares the kernel a path walk per descriptor; those directories stay open
 * until their links are read, so readLinks takes the processes in batches of half the open-file
 * limit. It throws (code EMFILE) only when not one process of a batch could be opened.
 *
 * The addon also exports the file calls with a deadline of native/deadline-io.c.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <node_api.h>
#include <pthread.h>

#include "deadline-io.h"
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MAX_THREADS 4
#define CHECK(call)                                                              \
  do {                                                                           \
    if ((call) != napi_ok) {                                                     \
      napi_throw_error(env, "E_NATIVE", "netmon native scanner: " #call " failed"); \
      return NULL;                                                               \
    }                                                                            \
  } while (0)

static int thread_count(size_t tasks) {
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  int n = cpus < 1 ? 1 : cpus > MAX_THREADS ? MAX_THREADS : (int)cpus;
  if ((size_t)n > tasks) n = tasks == 0 ? 1 : (int)tasks;
  return n;
}

typedef void (*task_fn)(void *ctx, size_t index);
typedef struct {
  atomic_size_t next;
  size_t count;
  task_fn fn;
  void *ctx;
} pool_t;

static void *pool_worker(void *arg) {
  pool_t *pool = arg;
  for (;;) {
    size_t i = atomic_fetch_add(&pool->next, 1);
    if (i >= pool->count) break;
    pool->fn(pool->ctx, i);
  }
  return NULL;
}

/* Run fn(ctx, i) for i in [0, count) on up to thread_count() threads, this one included. */
static void run_pool(size_t count, task_fn fn, void *ctx) {
  pool_t pool = {.count = count, .fn = fn, .ctx = ctx};
  atomic_init(&pool.next, 0);
  int n = thread_count(count);
  pthread_t threads[MAX_THREADS];
  int started = 0;
  for (int t = 1; t < n; t++) {
    if (pthread_create(&threads[started], NULL, pool_worker, &pool) == 0) started++;
  }
  pool_worker(&pool);
  for (int t = 0; t < started; t++) pthread_join(threads[t], NULL);
}

/* ---- reading a file ------------------------------------------------------------------ */

typedef struct {
  char *path;
  char *data;
  size_t size;
  int error;
} file_task_t;

/*
 * A whole file. It is read into a buffer on the stack first and kept at its size when it ends
 * there: the files of /proc/<pid> are mostly under a page, and a 64 KiB heap buffer each would
 * leave tens of megabytes resident when readFiles holds thousands at once. A larger file (a
 * socket table) goes on into a heap buffer that grows as it is read, from the same descriptor.
 */
static void read_file_task(void *ctx, size_t i) {
  file_task_t *task = &((file_task_t *)ctx)[i];
  char stack[16384];
  int fd = open(task->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    task->error = errno;
    return;
  }
  char *buf = stack;
  size_t cap = sizeof stack, size = 0;
  for (;;) {
    if (size == cap) {
      /* Full: move to (or grow) the heap buffer, with room for at least 64 KiB more. */
      size_t larger = cap < (1 << 16) ? (1 << 17) : cap * 2;
      char *grown = buf == stack ? malloc(larger) : realloc(buf, larger);
      if (!grown) {
        task->error = ENOMEM;
        break;
      }
      if (buf == stack) memcpy(grown, stack, size);
      buf = grown;
      cap = larger;
    }
    ssize_t n = read(fd, buf + size, cap - size);
    if (n < 0) {
      if (errno == EINTR) continue;
      task->error = errno;
      break;
    }
    if (n == 0) break;
    size += (size_t)n;
  }
  close(fd);
  if (!task->error && buf == stack) {
    buf = malloc(size ? size : 1);
    if (buf) memcpy(buf, stack, size);
    else task->error = ENOMEM;
  }
  if (task->error) {
    if (buf != stack) free(buf);
    return;
  }
  task->data = buf;
  task->size = size;
}

static napi_value typed_array(napi_env env, napi_typedarray_type type, const void *data, size_t count, size_t elem) {
  void *bytes = NULL;
  napi_value buffer, array;
  if (napi_create_arraybuffer(env, count * elem, &bytes, &buffer) != napi_ok) return NULL;
  if (count) memcpy(bytes, data, count * elem);
  if (napi_create_typedarray(env, type, count, buffer, 0, &array) != napi_ok) return NULL;
  return array;
}

/* ---- readTables: read and split /proc/net/{tcp,tcp6,udp,udp6} --------------------------- */

/*
 * Row layout (proc(5), net/ipv4/tcp_ipv4.c get_tcp4_sock): "sl: local rem st tx:rx tr:when
 * retrnsmt uid timeout inode ...". Per row this returns local/remote port, state, uid and inode
 * as numbers and the two address fields as indices into a list of distinct hex strings; the
 * TypeScript side decodes those few addresses. A row of unexpected shape stops the table with
 * its line number, so the caller can re-parse the text with the reference parser for the error.
 */
typedef struct {
  file_task_t file;
  double *nums; /* localPort, remotePort, state, uid, inode */
  uint32_t *addrs; /* local, remote address index */
  size_t rows;
  char **hex; /* distinct address hex strings */
  size_t nhex;
  size_t bad_line; /* 0 when every row parsed */
  int sock_diag; /* may dump through sock_diag (the caller asked for it) */
  uint32_t states; /* sock_diag: only sockets in these states, a mask of (1 << state) */
  int via_diag; /* the rows came from sock_diag */
} table_task_t;

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

static int parse_hex(const char *s, size_t n, size_t max, double *out) {
  if (n == 0 || n > max) return -1;
  double v = 0;
  for (size_t i = 0; i < n; i++) {
    int d = hexval(s[i]);
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  *out = v;
  return 0;
}

static int parse_dec(const char *s, size_t n, double *out) {
  if (n == 0 || n > 15) return -1;
  double v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 0;
}

/*
 * Distinct address fields of a table, interned: an open-addressing table of indices into t->hex,
 * kept at most half full and doubled when needed, so a server talking to tens of thousands of
 * distinct peers costs no more per row than one talking to a few.
 */
typedef struct {
  int32_t *slot; /* index + 1 into t->hex, 0 = empty; a power of two long */
  size_t cap;
  uint32_t *hashes; /* hash of each interned field, by index */
  size_t hcap; /* room in t->hex and hashes */
} hex_index_t;

static int hex_index_init(hex_index_t *idx) {
  memset(idx, 0, sizeof *idx);
  idx->cap = 1024;
  idx->slot = calloc(idx->cap, sizeof(int32_t));
  return idx->slot ? 0 : -1;
}

static void hex_index_free(hex_index_t *idx) {
  free(idx->slot);
  free(idx->hashes);
}

static size_t hex_free_slot(const int32_t *slot, size_t cap, uint32_t h) {
  size_t at = h & (cap - 1);
  while (slot[at] != 0) at = (at + 1) & (cap - 1);
  return at;
}

static int intern_hex(table_task_t *t, hex_index_t *idx, const char *s, size_t n, uint32_t *out) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
  size_t at = h & (idx->cap - 1);
  for (int32_t v; (v = idx->slot[at]) != 0; at = (at + 1) & (idx->cap - 1)) {
    const char *known = t->hex[v - 1];
    if (idx->hashes[v - 1] == h && strncmp(known, s, n) == 0 && known[n] == 0) {
      *out = (uint32_t)(v - 1);
      return 0;
    }
  }
  if (t->nhex >= INT32_MAX - 1) return -1;
  if (t->nhex == idx->hcap) {
    size_t grown = idx->hcap ? idx->hcap * 2 : 256;
    char **hex = realloc(t->hex, grown * sizeof(char *));
    if (!hex) return -1;
    t->hex = hex;
    uint32_t *hashes = realloc(idx->hashes, grown * sizeof(uint32_t));
    if (!hashes) return -1;
    idx->hashes = hashes;
    idx->hcap = grown;
  }
  if ((t->nhex + 1) * 2 > idx->cap) {
    size_t cap = idx->cap * 2;
    int32_t *slot = calloc(cap, sizeof(int32_t));
    if (!slot) return -1;
    for (size_t i = 0; i < t->nhex; i++) slot[hex_free_slot(slot, cap, idx->hashes[i])] = (int32_t)(i + 1);
    free(idx->slot);
    idx->slot = slot;
    idx->cap = cap;
    at = hex_free_slot(slot, cap, h);
  }
  char *copy = strndup(s, n);
  if (!copy) return -1;
  t->hex[t->nhex] = copy;
  idx->hashes[t->nhex] = h;
  idx->slot[at] = (int32_t)++t->nhex;
  *out = (uint32_t)(t->nhex - 1);
  return 0;
}

/* One stable counting-sort pass of `in` into `out` by key(row) in [0, buckets). */
static int counting_pass(const uint32_t *in, uint32_t *out, size_t n, const uint32_t *keys, size_t buckets) {
  uint32_t *count = calloc(buckets + 1, sizeof(uint32_t));
  if (!count) return -1;
  for (size_t i = 0; i < n; i++) count[keys[in[i]] + 1]++;
  for (size_t b = 0; b < buckets; b++) count[b + 1] += count[b];
  for (size_t i = 0; i < n; i++) out[count[keys[in[i]]]++] = in[i];
  free(count);
  return 0;
}

/*
 * Put a table's rows in roughly the order netmon prints them (listeners first, then by local and
 * remote port), so that the JavaScript sort, which decides the order, finds long sorted runs
 * instead of hash order (about 25 ms less per snapshot at 28,000 sockets). Only a hint: any order gives the
 * same result, a little slower. Two counting-sort passes, linear in the rows.
 */
static void presort(table_task_t *t) {
  size_t n = t->rows;
  if (n < 2) return;
  size_t len = strlen(t->file.path);
  int udp = (len >= 3 && strcmp(t->file.path + len - 3, "udp") == 0) || (len >= 4 && strcmp(t->file.path + len - 4, "udp6") == 0);
  uint32_t *a = malloc(n * sizeof(uint32_t)), *b = malloc(n * sizeof(uint32_t));
  uint32_t *remote = malloc(n * sizeof(uint32_t)), *local = malloc(n * sizeof(uint32_t));
  double *nums = malloc(n * 5 * sizeof(double));
  uint32_t *addrs = malloc(n * 2 * sizeof(uint32_t));
  int ok = a && b && remote && local && nums && addrs;
  if (ok) {
    for (size_t r = 0; r < n; r++) {
      const double *v = t->nums + r * 5;
      int listening = udp ? v[2] == 7 : v[2] == 10; /* UNCONN, LISTEN */
      a[r] = (uint32_t)r;
      remote[r] = (uint32_t)v[1];
      local[r] = (listening ? 0 : 65536u) + (uint32_t)v[0];
    }
    /* LSD radix: by remote port, then (stably) by listening and local port. */
    ok = counting_pass(a, b, n, remote, 65536) == 0 && counting_pass(b, a, n, local, 131072) == 0;
  }
  if (ok) {
    for (size_t r = 0; r < n; r++) {
      memcpy(nums + r * 5, t->nums + (size_t)a[r] * 5, 5 * sizeof(double));
      addrs[r * 2] = t->addrs[(size_t)a[r] * 2];
      addrs[r * 2 + 1] = t->addrs[(size_t)a[r] * 2 + 1];
    }
    free(t->nums);
    free(t->addrs);
    t->nums = nums;
    t->addrs = addrs;
  } else {
    free(nums);
    free(addrs);
  }
  free(a), free(b), free(remote), free(local);
}

/* Append one row; -1 when out of memory. */
static int add_row(table_task_t *t, size_t *cap, double lport, double rport, double st, double uid, double inode, uint32_t la, uint32_t ra) {
  if (t->rows == *cap) {
    size_t grown = *cap ? *cap * 2 : 1024;
    double *nums = realloc(t->nums, grown * 5 * sizeof(double));
    if (nums) t->nums = nums;
    uint32_t *addrs = realloc(t->addrs, grown * 2 * sizeof(uint32_t));
    if (addrs) t->addrs = addrs;
    if (!nums || !addrs) return -1;
    *cap = grown;
  }
  double *n = t->nums + t->rows * 5;
  n[0] = lport, n[1] = rport, n[2] = st, n[3] = uid, n[4] = inode;
  t->addrs[t->rows * 2] = la;
  t->addrs[t->rows * 2 + 1] = ra;
  t->rows++;
  return 0;
}

/* ---- the same columns through sock_diag netlink --------------------------------------- */

/* How a table path is read. */
enum { READ_FILE = 0, DUMP_OWN, DUMP_PROCESS, DUMP_BINDING };

/*
 * The table a path names, as family and protocol, and whose namespace: DUMP_OWN for the caller's
 * own (/proc/self/net/<table>), DUMP_PROCESS for the namespace of process <pid>
 * (/proc/<pid>/net/<table>; nspath gets /proc/<pid>/ns/net), DUMP_BINDING for a namespace file
 * such as an `ip netns` binding ("<file>:/proc/net/<table>", a form of this scanner's own; nspath
 * gets <file>). Any other path (another procfs root, a copy of a table) is a file: READ_FILE.
 */
static int diag_target(const char *path, int *family, int *protocol, char *nspath, size_t nspath_size) {
  static const struct {
    const char *name;
    int family, protocol;
  } known[] = {
      {"tcp", AF_INET, IPPROTO_TCP},
      {"tcp6", AF_INET6, IPPROTO_TCP},
      {"udp", AF_INET, IPPROTO_UDP},
      {"udp6", AF_INET6, IPPROTO_UDP},
  };
  const char *table;
  int kind;
  const char *bound = strstr(path, ":/proc/net/");
  if (bound != NULL && path[0] == '/') {
    size_t n = (size_t)(bound - path);
    if (n + 1 > nspath_size) return READ_FILE;
    memcpy(nspath, path, n);
    nspath[n] = 0;
    table = bound + 11;
    kind = DUMP_BINDING;
  } else {
    if (strncmp(path, "/proc/", 6) != 0) return READ_FILE;
    const char *p = path + 6;
    long who = 0;
    if (strncmp(p, "self/", 5) == 0) {
      p += 4;
      kind = DUMP_OWN;
      nspath[0] = 0;
    } else {
      if (*p < '1' || *p > '9') return READ_FILE;
      while (*p >= '0' && *p <= '9') {
        who = who * 10 + (*p++ - '0');
        if (who > 0x3fffffff) return READ_FILE;
      }
      kind = DUMP_PROCESS;
      snprintf(nspath, nspath_size, "/proc/%ld/ns/net", who);
    }
    if (strncmp(p, "/net/", 5) != 0) return READ_FILE;
    table = p + 5;
  }
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
    if (strcmp(table, known[i].name) == 0) {
      *family = known[i].family;
      *protocol = known[i].protocol;
      return kind;
    }
  }
  return READ_FILE;
}

/*
 * A sock_diag socket of another network namespace (nspath: a namespace file). A netlink socket
 * dumps the namespace it was made in, so a short-lived thread of our own enters that namespace
 * (setns changes only the calling thread's, and needs CAP_SYS_ADMIN), makes the socket and ends;
 * the socket stays in that namespace. No thread that runs anything else ever changes namespace.
 * Returns the socket, or -1 with errno set.
 */
typedef struct {
  int nsfd;
  int fd;
  int error;
} ns_socket_t;

static void *ns_socket_thread(void *arg) {
  ns_socket_t *a = arg;
  if (setns(a->nsfd, CLONE_NEWNET) != 0) {
    a->error = errno;
    return NULL;
  }
  a->fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (a->fd < 0) a->error = errno;
  return NULL;
}

static int diag_socket(const char *nspath) {
  if (nspath[0] == 0) return socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  ns_socket_t a = {.nsfd = open(nspath, O_RDONLY | O_CLOEXEC), .fd = -1, .error = 0};
  if (a.nsfd < 0) return -1;
  pthread_t thread;
  int started = pthread_create(&thread, NULL, ns_socket_thread, &a);
  if (started == 0) pthread_join(thread, NULL);
  else a.error = started;
  close(a.nsfd);
  if (a.fd < 0) errno = a.error ? a.error : EIO;
  return a.fd;
}

/* An address as /proc/net prints it: each 32-bit word in host order as %08X. */
static size_t address_hex(const uint32_t *words, int count, char *out) {
  static const char digits[] = "0123456789ABCDEF";
  size_t at = 0;
  for (int w = 0; w < count; w++) {
    uint32_t v = words[w];
    for (int shift = 28; shift >= 0; shift -= 4) out[at++] = digits[(v >> shift) & 15];
  }
  out[at] = 0;
  return at;
}

/* Forget rows of a dump that did not finish, so the file can be read instead. */
static void reset_rows(table_task_t *t) {
  free(t->nums), free(t->addrs);
  for (size_t h = 0; h < t->nhex; h++) free(t->hex[h]);
  free(t->hex);
  t->nums = NULL, t->addrs = NULL, t->hex = NULL;
  t->rows = 0, t->nhex = 0;
}

/*
 * Dump every socket of one family and protocol, in every state, with sock_diag (what ss uses).
 * Fields as /proc/net prints them: state (a request socket reports SYN_RECV, a timewait socket
 * its substate, as there), uid and inode (0 for timewait and request sockets, as there), ports in
 * host order, addresses as hex words. Returns 0 when the dump completed, -1 otherwise.
 */
static int diag_table(table_task_t *t, int family, int protocol, const char *nspath) {
  int fd = diag_socket(nspath);
  if (fd < 0) return -1;
  struct timeval timeout = {.tv_sec = 5};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  struct {
    struct nlmsghdr header;
    struct inet_diag_req_v2 request;
  } req;
  memset(&req, 0, sizeof req);
  req.header.nlmsg_len = sizeof req;
  req.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  req.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.header.nlmsg_seq = 1;
  req.request.sdiag_family = (uint8_t)family;
  req.request.sdiag_protocol = (uint8_t)protocol;
  req.request.idiag_states = t->states;
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  size_t bufsize = 1 << 16, cap = 0;
  char *buf = malloc(bufsize);
  hex_index_t index;
  hex_index_t *idx = hex_index_init(&index) == 0 ? &index : NULL;
  int ok = -1, done = 0;
  if (!buf || !idx || sendto(fd, &req, sizeof req, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) goto out;
  int words = family == AF_INET6 ? 4 : 1;
  char hex[33];
  while (!done) {
    ssize_t len = recv(fd, buf, bufsize, MSG_TRUNC); /* MSG_TRUNC: the datagram's real length */
    if (len < 0 && errno == EINTR) continue;
    if (len <= 0 || (size_t)len > bufsize) goto out;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_flags & NLM_F_DUMP_INTR) goto out; /* the table changed under the dump */
      if (h->nlmsg_type == NLMSG_DONE) {
        done = 1;
        break;
      }
      if (h->nlmsg_type == NLMSG_ERROR) goto out; /* e.g. no diag module for this protocol */
      if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg))) goto out;
      const struct inet_diag_msg *m = NLMSG_DATA(h);
      uint32_t la, ra;
      if (intern_hex(t, idx, hex, address_hex(m->id.idiag_src, words, hex), &la) ||
          intern_hex(t, idx, hex, address_hex(m->id.idiag_dst, words, hex), &ra) ||
          add_row(t, &cap, ntohs(m->id.idiag_sport), ntohs(m->id.idiag_dport), m->idiag_state, m->idiag_uid, m->idiag_inode, la, ra))
        goto out;
    }
  }
  ok = 0;
out:
  free(buf);
  if (idx) hex_index_free(idx);
  close(fd);
  if (ok) reset_rows(t);
  return ok;
}

static void table_task(void *ctx, size_t i) {
  table_task_t *t = &((table_task_t *)ctx)[i];
  int family, protocol;
  char nspath[4096];
  int kind = t->sock_diag ? diag_target(t->file.path, &family, &protocol, nspath, sizeof nspath) : READ_FILE;
  if (kind != READ_FILE) {
    errno = 0;
    if (diag_table(t, family, protocol, nspath) == 0) {
      t->via_diag = 1;
      presort(t);
      return;
    }
    if (kind == DUMP_BINDING) {
      /* No file to fall back to: the caller enters the namespace another way. */
      t->file.error = errno ? errno : EIO;
      return;
    }
  }
  read_file_task(&t->file, 0);
  if (t->file.error) return;
  const char *text = t->file.data;
  size_t size = t->file.size, cap = 0;
  hex_index_t index;
  hex_index_t *idx = hex_index_init(&index) == 0 ? &index : NULL;
  if (!idx) {
    t->bad_line = 1;
    return;
  }
  size_t line = 0, pos = 0;
  while (pos < size) {
    const char *nl = memchr(text + pos, '\n', size - pos);
    size_t end = nl ? (size_t)(nl - text) : size;
    line++;
    if (line > 1) {
      const char *f[10];
      size_t len[10];
      int nf = 0;
      size_t k = pos;
      while (nf < 10) {
        while (k < end && (unsigned char)text[k] <= 32) k++;
        if (k >= end) break;
        f[nf] = text + k;
        while (k < end && (unsigned char)text[k] > 32) k++;
        len[nf] = (size_t)(text + k - f[nf]);
        nf++;
      }
      if (nf > 0) {
        const char *lc = nf == 10 ? memchr(f[1], ':', len[1]) : NULL;
        const char *rc = nf == 10 ? memchr(f[2], ':', len[2]) : NULL;
        double lport, rport, st, uid, inode;
        uint32_t la, ra;
        if (!lc || !rc || parse_hex(lc + 1, (size_t)(f[1] + len[1] - lc - 1), 4, &lport) || parse_hex(rc + 1, (size_t)(f[2] + len[2] - rc - 1), 4, &rport) ||
            parse_hex(f[3], len[3], 2, &st) || parse_dec(f[7], len[7], &uid) || parse_dec(f[9], len[9], &inode) ||
            intern_hex(t, idx, f[1], (size_t)(lc - f[1]), &la) || intern_hex(t, idx, f[2], (size_t)(rc - f[2]), &ra)) {
          t->bad_line = line;
          break;
        }
        if (add_row(t, &cap, lport, rport, st, uid, inode, la, ra)) {
          t->bad_line = line;
          break;
        }
      }
    } else if (memmem(text + pos, end - pos, "local_address", 13) == NULL) {
      t->bad_line = 1;
      break;
    }
    pos = end + 1;
  }
  if (line == 0) t->bad_line = 1;
  hex_index_free(idx);
  if (!t->bad_line) presort(t);
}

static napi_value read_tables(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  bool sock_diag = false;
  if (argc >= 2) napi_get_value_bool(env, argv[1], &sock_diag);
  bool has_states = false;
  if (argc >= 3) napi_is_array(env, argv[2], &has_states);
  uint32_t count = 0;
  if (argc < 1 || napi_get_array_length(env, argv[0], &count) != napi_ok) {
    napi_throw_type_error(env, "E_NATIVE", "readTables expects an array of paths");
    return NULL;
  }
  table_task_t *tasks = calloc(count ? count : 1, sizeof(table_task_t));
  if (!tasks) {
    napi_throw_error(env, "E_NATIVE", "out of memory");
    return NULL;
  }
  napi_value result = NULL;
  for (uint32_t i = 0; i < count; i++) {
    napi_value item;
    size_t len = 0;
    if (napi_get_element(env, argv[0], i, &item) != napi_ok || napi_get_value_string_utf8(env, item, NULL, 0, &len) != napi_ok) {
      napi_throw_type_error(env, "E_NATIVE", "readTables expects an array of paths");
      goto done;
    }
    tasks[i].sock_diag = sock_diag;
    /* Every state but TCP_BOUND_INACTIVE (13, Linux 6.6+): a socket bound and neither listening
     * nor connected is no endpoint of the network; /proc/net/tcp never lists it (nor `ss`
     * without -B), and both ways of reading a table must give the same rows. */
    tasks[i].states = ~0u & ~(1u << 13);
    if (has_states) {
      napi_value mask;
      if (napi_get_element(env, argv[2], i, &mask) == napi_ok) napi_get_value_uint32(env, mask, &tasks[i].states);
    }
    tasks[i].file.path = malloc(len + 1);
    if (!tasks[i].file.path) goto done;
    napi_get_value_string_utf8(env, item, tasks[i].file.path, len + 1, &len);
  }
  run_pool(count, table_task, tasks);
  if (napi_create_array_with_length(env, count, &result) != napi_ok) goto done;
  for (uint32_t i = 0; i < count; i++) {
    table_task_t *t = &tasks[i];
    napi_value value;
    if (t->file.error) {
      napi_create_int32(env, t->file.error, &value);
    } else {
      napi_value hex;
      napi_create_object(env, &value);
      napi_create_array_with_length(env, t->nhex, &hex);
      for (size_t h = 0; h < t->nhex; h++) {
        napi_value str;
        napi_create_string_latin1(env, t->hex[h], NAPI_AUTO_LENGTH, &str);
        napi_set_element(env, hex, (uint32_t)h, str);
      }
      napi_value bad;
      napi_create_int64(env, (int64_t)t->bad_line, &bad);
      napi_set_named_property(env, value, "badLine", bad);
      napi_value via;
      napi_create_string_latin1(env, t->via_diag ? "sock_diag" : "file", NAPI_AUTO_LENGTH, &via);
      napi_set_named_property(env, value, "via", via);
      napi_set_named_property(env, value, "hex", hex);
      napi_set_named_property(env, value, "nums", typed_array(env, napi_float64_array, t->nums, t->rows * 5, sizeof(double)));
      napi_set_named_property(env, value, "addrs", typed_array(env, napi_uint32_array, t->addrs, t->rows * 2, sizeof(uint32_t)));
    }
    napi_set_element(env, result, i, value);
  }
done:
  for (uint32_t i = 0; i < count; i++) {
    free(tasks[i].file.path);
    free(tasks[i].file.data);
    free(tasks[i].nums);
    free(tasks[i].addrs);
    for (size_t h = 0; h < tasks[i].nhex; h++) free(tasks[i].hex[h]);
    free(tasks[i].hex);
  }
  free(tasks);
  return result;
}

/* ---- readLinks ---------------------------------------------------------------------- */

/* PID_RETRY: the process's descriptor directory could not be opened because this process had no
 * descriptor to spare (EMFILE, ENFILE): it is read again in a later batch, never reported as
 * unreadable. */
enum { PID_OK = 0, PID_DENIED = 1, PID_EXITED = 2, PID_RETRY = 3 };

typedef struct {
  int32_t pid;
  int dirfd;
  int status;
  int32_t *fds;
  size_t nfds;
} proc_t;

typedef struct {
  double *triples; /* (inode, pid, fd) */
  size_t count, cap;
} out_t;

typedef struct {
  const char *root;
  proc_t *procs;
  /* the processes of the current batch (indexes into procs) */
  const size_t *sel;
  /* chunks of (proc index, first fd index, end fd index) */
  size_t (*chunks)[3];
  size_t nchunks;
  out_t outs[MAX_THREADS];
  atomic_int next_out;
  pthread_key_t key;
} links_t;

static int out_of_descriptors(int error) { return error == EMFILE || error == ENFILE || error == ENOMEM; }

static int failed_status(int error) {
  if (error == ENOENT || error == ESRCH) return PID_EXITED;
  if (out_of_descriptors(error)) return PID_RETRY;
  return PID_DENIED;
}

static void list_task(void *ctx, size_t i) {
  links_t *job = ctx;
  proc_t *p = &job->procs[job->sel[i]];
  char path[4096];
  snprintf(path, sizeof path, "%s/%d/fd", job->root, p->pid);
  p->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (p->dirfd < 0) {
    p->status = failed_status(errno);
    return;
  }
  int dup_fd = dup(p->dirfd);
  DIR *dir = dup_fd < 0 ? NULL : fdopendir(dup_fd);
  if (!dir) {
    int error = errno;
    if (dup_fd >= 0) close(dup_fd);
    p->status = failed_status(error);
    return;
  }
  size_t cap = 64;
  p->fds = malloc(cap * sizeof(int32_t));
  struct dirent *entry;
  errno = 0;
  while (p->fds && (entry = readdir(dir)) != NULL) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    if (p->nfds == cap) {
      int32_t *grown = realloc(p->fds, cap * 2 * sizeof(int32_t));
      if (!grown) break;
      p->fds = grown;
      cap *= 2;
    }
    p->fds[p->nfds++] = (int32_t)strtol(entry->d_name, NULL, 10);
  }
  if (errno == ENOENT || errno == ESRCH) p->status = PID_EXITED;
  else if (errno == EACCES || errno == EPERM) p->status = PID_DENIED;
  closedir(dir);
}

static out_t *thread_out(links_t *job) {
  out_t *out = pthread_getspecific(job->key);
  if (!out) {
    int slot = atomic_fetch_add(&job->next_out, 1);
    out = &job->outs[slot];
    pthread_setspecific(job->key, out);
  }
  return out;
}

static void link_task(void *ctx, size_t i) {
  links_t *job = ctx;
  proc_t *p = &job->procs[job->chunks[i][0]];
  if (p->status != PID_OK) return;
  out_t *out = thread_out(job);
  char link[128];
  for (size_t k = job->chunks[i][1]; k < job->chunks[i][2]; k++) {
    char name[16];
    snprintf(name, sizeof name, "%d", p->fds[k]);
    ssize_t n = readlinkat(p->dirfd, name, link, sizeof link - 1);
    if (n < 0) {
      if (errno == EACCES || errno == EPERM) {
        p->status = PID_DENIED; /* benign race: only ever set to the same value */
        return;
      }
      continue; /* closed since it was listed */
    }
    link[n] = 0;
    if (n < 10 || memcmp(link, "socket:[", 8) != 0 || link[n - 1] != ']') continue;
    char *end = NULL;
    double inode = (double)strtoull(link + 8, &end, 10);
    if (end != link + n - 1) continue;
    if (out->count + 3 > out->cap) {
      size_t cap = out->cap ? out->cap * 2 : 3 * 4096;
      double *grown = realloc(out->triples, cap * sizeof(double));
      if (!grown) return;
      out->triples = grown;
      out->cap = cap;
    }
    out->triples[out->count++] = inode;
    out->triples[out->count++] = p->pid;
    out->triples[out->count++] = p->fds[k];
  }
}

/*
 * How many processes one batch lists at once. Each keeps its /proc/<pid>/fd open until its links
 * are read, so a host with more processes than the open-file limit allows (a soft limit of 1024,
 * the usual default, and a few thousand processes) is read in batches of half the limit. Before,
 * the processes past the limit were reported as unreadable.
 */
static size_t links_batch(size_t npids) {
  struct rlimit limit;
  size_t batch = npids ? npids : 1;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    size_t half = (size_t)(limit.rlim_cur / 2);
    if (half < 8) half = 8;
    if (batch > half) batch = half;
  }
  return batch;
}

/* List and read the links of the `n` processes in `sel`, appending their triples to `acc`. */
static int links_of(links_t *job, const size_t *sel, size_t n, out_t *acc) {
  job->sel = sel;
  /* Pass A: list each process's descriptors (in parallel, by process). */
  run_pool(n, list_task, job);
  /* Pass B: read the links in chunks of 256, so one process with many sockets is shared too.
   * Chunks are dealt round-robin over the processes (first chunk of each, then second, ...):
   * threads taking consecutive chunks then mostly read different processes, and do not
   * contend for the same process's locks in the kernel. */
  size_t nchunks = 0, rounds = 0;
  for (size_t j = 0; j < n; j++) {
    size_t c = (job->procs[sel[j]].nfds + 255) / 256;
    nchunks += c;
    if (c > rounds) rounds = c;
  }
  job->chunks = malloc((nchunks ? nchunks : 1) * sizeof *job->chunks);
  if (!job->chunks) return -1;
  size_t c = 0;
  for (size_t r = 0; r < rounds; r++) {
    for (size_t j = 0; j < n; j++) {
      proc_t *p = &job->procs[sel[j]];
      size_t k = r * 256;
      if (k >= p->nfds) continue;
      job->chunks[c][0] = sel[j];
      job->chunks[c][1] = k;
      job->chunks[c][2] = k + 256 < p->nfds ? k + 256 : p->nfds;
      c++;
    }
  }
  job->nchunks = c;
  /* Thread-local output slots: the calling thread and the pool threads each get one. A key of
   * this batch's own: the calling thread's slot from an earlier batch must not carry over. */
  memset(job->outs, 0, sizeof job->outs);
  atomic_store(&job->next_out, 0);
  pthread_key_create(&job->key, NULL);
  run_pool(job->nchunks, link_task, job);
  pthread_key_delete(job->key);
  free(job->chunks);
  job->chunks = NULL;
  int ok = 0;
  for (int t = 0; t < MAX_THREADS; t++) {
    out_t *o = &job->outs[t];
    if (o->count && acc->count + o->count > acc->cap) {
      size_t cap = acc->cap ? acc->cap : 3 * 4096;
      while (cap < acc->count + o->count) cap *= 2;
      double *grown = realloc(acc->triples, cap * sizeof(double));
      if (!grown) ok = -1;
      else {
        acc->triples = grown;
        acc->cap = cap;
      }
    }
    if (o->count && ok == 0) {
      memcpy(acc->triples + acc->count, o->triples, o->count * sizeof(double));
      acc->count += o->count;
    }
    free(o->triples);
  }
  /* This batch's directories are done with: their descriptors go back for the next batch. */
  for (size_t j = 0; j < n; j++) {
    proc_t *p = &job->procs[sel[j]];
    if (p->dirfd >= 0) close(p->dirfd);
    p->dirfd = -1;
  }
  return ok;
}

static napi_value read_links(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char root[2048];
  size_t rootlen = 0;
  napi_typedarray_type type;
  size_t npids = 0;
  void *pid_data = NULL;
  if (argc < 2 || napi_get_value_string_utf8(env, argv[0], root, sizeof root, &rootlen) != napi_ok ||
      napi_get_typedarray_info(env, argv[1], &type, &npids, &pid_data, NULL, NULL) != napi_ok || type != napi_int32_array) {
    napi_throw_type_error(env, "E_NATIVE", "readLinks expects (procRoot: string, pids: Int32Array)");
    return NULL;
  }
  links_t job;
  memset(&job, 0, sizeof job);
  job.root = root;
  job.procs = calloc(npids ? npids : 1, sizeof(proc_t));
  size_t *todo = malloc((npids ? npids : 1) * sizeof(size_t));
  size_t *again = malloc((npids ? npids : 1) * sizeof(size_t));
  out_t acc = {0};
  int failed = !job.procs || !todo || !again;
  for (size_t i = 0; !failed && i < npids; i++) {
    job.procs[i].pid = ((int32_t *)pid_data)[i];
    job.procs[i].dirfd = -1;
    todo[i] = i;
  }
  /* Batches of processes; those that found no descriptor to spare go round again, in smaller
   * batches, until a round reads none of them: then this process is out of descriptors. */
  size_t ntodo = failed ? 0 : npids, batch = links_batch(npids);
  int starved = 0;
  while (!failed && ntodo > 0) {
    size_t nagain = 0;
    for (size_t start = 0; start < ntodo && !failed; start += batch) {
      size_t n = ntodo - start < batch ? ntodo - start : batch;
      if (links_of(&job, todo + start, n, &acc) != 0) failed = 1;
      for (size_t j = start; j < start + n; j++) {
        proc_t *p = &job.procs[todo[j]];
        if (p->status != PID_RETRY) continue;
        free(p->fds);
        p->fds = NULL;
        p->nfds = 0;
        p->status = PID_OK;
        again[nagain++] = todo[j];
      }
    }
    if (nagain == ntodo) {
      starved = 1;
      break;
    }
    size_t *swap = todo;
    todo = again;
    again = swap;
    ntodo = nagain;
    batch = batch / 4 ? batch / 4 : 1;
  }
  napi_value result = NULL;
  if (failed || starved) {
    napi_throw_error(env, failed ? "ENOMEM" : "EMFILE",
                     failed ? "netmon native scanner: out of memory reading descriptor links"
                            : "netmon native scanner: no file descriptor to spare for reading /proc/<pid>/fd (EMFILE: too many open files)");
  } else {
    int32_t *denied = malloc((npids ? npids : 1) * sizeof(int32_t));
    int32_t *exited = malloc((npids ? npids : 1) * sizeof(int32_t));
    size_t nd = 0, ne = 0;
    for (size_t i = 0; i < npids && denied && exited; i++) {
      if (job.procs[i].status == PID_DENIED) denied[nd++] = job.procs[i].pid;
      else if (job.procs[i].status == PID_EXITED) exited[ne++] = job.procs[i].pid;
    }
    if (denied && exited && napi_create_object(env, &result) == napi_ok) {
      napi_set_named_property(env, result, "triples", typed_array(env, napi_float64_array, acc.triples, acc.count, sizeof(double)));
      napi_set_named_property(env, result, "denied", typed_array(env, napi_int32_array, denied, nd, sizeof(int32_t)));
      napi_set_named_property(env, result, "exited", typed_array(env, napi_int32_array, exited, ne, sizeof(int32_t)));
    }
    free(denied);
    free(exited);
  }
  for (size_t i = 0; job.procs && i < npids; i++) {
    if (job.procs[i].dirfd >= 0) close(job.procs[i].dirfd);
    free(job.procs[i].fds);
  }
  free(acc.triples);
  free(todo);
  free(again);
  free(job.procs);
  return result;
}

/* ---- readFiles: many small files (and links) at once ------------------------------------ */

typedef struct {
  file_task_t *tasks;
  const uint8_t *links; /* 1: readlink the path instead of reading it; NULL: read every path */
} files_job_t;

static void link_file_task(file_task_t *task) {
  size_t cap = 4096;
  for (;;) {
    char *buf = malloc(cap);
    if (!buf) {
      task->error = ENOMEM;
      return;
    }
    ssize_t n = readlink(task->path, buf, cap);
    if (n < 0) {
      task->error = errno;
      free(buf);
      return;
    }
    /* A target that fills the buffer may have been cut: try again with a larger one. */
    if ((size_t)n < cap) {
      char *kept = realloc(buf, n ? (size_t)n : 1);
      task->data = kept ? kept : buf;
      task->size = (size_t)n;
      return;
    }
    free(buf);
    if (cap >= (1u << 20)) {
      task->error = ENAMETOOLONG;
      return;
    }
    cap *= 4;
  }
}

static void files_task(void *ctx, size_t i) {
  files_job_t *job = ctx;
  if (job->tasks[i].error) return;
  if (job->links && job->links[i]) link_file_task(&job->tasks[i]);
  else read_file_task(job->tasks, i);
}

/*
 * readFiles(paths: string[], links?: Uint8Array) -> { bytes: Uint8Array, offsets: Float64Array, errors: Int32Array }
 *   the whole content of each file (or, where links[i] is 1, the target of the link), read on
 *   the thread pool: file i is bytes[offsets[i], offsets[i + 1]) when errors[i] is 0, else
 *   errors[i] is its errno. For the few small /proc files of every process (stat, status,
 *   cmdline, cgroup and the exe link): one call for all of them instead of five per process.
 */
static napi_value read_files(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t n = 0;
  bool is_array = false;
  if (argc < 1 || napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array || napi_get_array_length(env, argv[0], &n) != napi_ok) {
    napi_throw_type_error(env, "E_NATIVE", "readFiles expects (paths: string[], links?: Uint8Array)");
    return NULL;
  }
  const uint8_t *links = NULL;
  if (argc >= 2) {
    napi_valuetype type;
    CHECK(napi_typeof(env, argv[1], &type));
    if (type != napi_undefined) {
      bool is_typed = false;
      napi_typedarray_type ttype;
      size_t length = 0;
      void *data = NULL;
      if (napi_is_typedarray(env, argv[1], &is_typed) != napi_ok || !is_typed ||
          napi_get_typedarray_info(env, argv[1], &ttype, &length, &data, NULL, NULL) != napi_ok || ttype != napi_uint8_array || length != n) {
        napi_throw_type_error(env, "E_NATIVE", "readFiles: links must be a Uint8Array as long as paths");
        return NULL;
      }
      links = data;
    }
  }
  file_task_t *tasks = calloc(n ? n : 1, sizeof *tasks);
  if (!tasks) {
    napi_throw_error(env, "ENOMEM", "netmon native scanner: out of memory");
    return NULL;
  }
  int ok = 1;
  for (uint32_t i = 0; i < n && ok; i++) {
    napi_value v;
    size_t len = 0;
    if (napi_get_element(env, argv[0], i, &v) != napi_ok || napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
      ok = 0;
      break;
    }
    tasks[i].path = malloc(len + 1);
    if (!tasks[i].path) {
      tasks[i].error = ENOMEM;
      continue;
    }
    napi_get_value_string_utf8(env, v, tasks[i].path, len + 1, &len);
  }
  napi_value result = NULL;
  if (!ok) {
    napi_throw_type_error(env, "E_NATIVE", "readFiles expects (paths: string[], links?: Uint8Array)");
  } else {
    /* Tasks whose path could not be copied keep their ENOMEM and are not run. */
    files_job_t job = {.tasks = tasks, .links = links};
    run_pool(n, files_task, &job);
    size_t total = 0;
    for (uint32_t i = 0; i < n; i++) total += tasks[i].error ? 0 : tasks[i].size;
    double *offsets = malloc((n + 1) * sizeof(double));
    int32_t *errors = malloc((n ? n : 1) * sizeof(int32_t));
    void *bytes = NULL;
    napi_value buffer, bytes_array, obj;
    if (offsets && errors && napi_create_arraybuffer(env, total, &bytes, &buffer) == napi_ok &&
        napi_create_typedarray(env, napi_uint8_array, total, buffer, 0, &bytes_array) == napi_ok && napi_create_object(env, &obj) == napi_ok) {
      size_t at = 0;
      for (uint32_t i = 0; i < n; i++) {
        offsets[i] = (double)at;
        errors[i] = tasks[i].error;
        if (!tasks[i].error && tasks[i].size) {
          memcpy((char *)bytes + at, tasks[i].data, tasks[i].size);
          at += tasks[i].size;
        }
      }
      offsets[n] = (double)at;
      napi_value offsets_array = typed_array(env, napi_float64_array, offsets, n + 1, sizeof(double));
      napi_value errors_array = typed_array(env, napi_int32_array, errors, n, sizeof(int32_t));
      if (offsets_array && errors_array) {
        napi_set_named_property(env, obj, "bytes", bytes_array);
        napi_set_named_property(env, obj, "offsets", offsets_array);
        napi_set_named_property(env, obj, "errors", errors_array);
        result = obj;
      }
    }
    if (!result) napi_throw_error(env, "ENOMEM", "netmon native scanner: out of memory");
    free(offsets);
    free(errors);
  }
  for (uint32_t i = 0; i < n; i++) {
    free(tasks[i].path);
    free(tasks[i].data);
  }
  free(tasks);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  if (napi_create_function(env, "readTables", NAPI_AUTO_LENGTH, read_tables, NULL, &fn) == napi_ok)
    napi_set_named_property(env, exports, "readTables", fn);
  if (napi_create_function(env, "readLinks", NAPI_AUTO_LENGTH, read_links, NULL, &fn) == napi_ok)
    napi_set_named_property(env, exports, "readLinks", fn);
  if (napi_create_function(env, "readFiles", NAPI_AUTO_LENGTH, read_files, NULL, &fn) == napi_ok)
    napi_set_named_property(env, exports, "readFiles", fn);
  deadline_io_init(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
