/* The hot path of an audit append (craton_hsm/audit/trail.py; docs/audit.md
 * "Overhead").  Python formats and hashes the record; these two calls do
 * the system calls around it, so an ordinary record costs two calls into
 * C instead of eight os/fcntl/struct calls, and the GIL is released
 * while they run (cffi releases it around every lib call).  Pasted by
 * ffi/build_hsm.py into the cffi preamble; called through the cffi lib,
 * never exported (version script).  trail.py has the same steps in
 * Python for processes without the library (the CLI, unit tests).
 *
 * ``head`` is the shared head mapped from audit.lock; its layout is
 * trail.py's _HEAD (little-endian, which is every target we build on).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* audit.log's link count: 0 once it was removed or replaced behind
   everyone's back.  statx asks for nothing else: an fstat would ask for
   the timestamps too, and a file whose timestamps were read gets them
   updated at full resolution by the next write(2) (multigrain
   timestamps, Linux 6.13), which made every append's write cost about
   twice as much on ext4. */
static int craton_audit_linked(int log_fd)
{
    struct statx sx;
    struct stat st;

    if (statx(log_fd, "", AT_EMPTY_PATH, STATX_NLINK, &sx) == 0)
        return (sx.stx_mask & STATX_NLINK) ? sx.stx_nlink > 0
               : fstat(log_fd, &st) == 0 && st.st_nlink > 0;
    return errno == ENOSYS && fstat(log_fd, &st) == 0 && st.st_nlink > 0;
}

struct craton_audit_head {
    char magic[8];
    uint64_t epoch;   /* bumped before the log is written */
    uint64_t done;    /* = epoch once the fields below are complete */
    uint64_t gen, ino, size, seq, first;
    char hash[64];
};

/* Take the flock on audit.lock.  0: the head still carries ``epoch``, the
   one this process left, and audit.log has not been unlinked: no one
   else appended, the caller's view is current.  1: re-read the head.
   -errno: no lock taken. */
static int craton_audit_enter(int lock_fd, int log_fd, const void *head,
                              int64_t epoch)
{
    const struct craton_audit_head *h = head;

    while (flock(lock_fd, LOCK_EX) != 0)
        if (errno != EINTR)
            return -errno;
    /* A damaged head may hold any epoch: -1 ("unknown") never matches. */
    if (epoch < 0
            || __atomic_load_n(&h->epoch, __ATOMIC_ACQUIRE) != (uint64_t)epoch)
        return 1;
    if (!craton_audit_linked(log_fd))
        return 1;
    return 0;
}

/* With the flock held: mark the head as changing (epoch), write the whole
   line with one write(2) on the O_APPEND descriptor (more only if the
   kernel takes part of it), fsync when asked, publish the new head
   (done last) and unlock.  -errno with the lock still held when the line
   cannot be written (a torn line is cut back to ``size``: the next
   record must chain from a whole one) or synced. */
static int craton_audit_commit(int lock_fd, int log_fd, const char *line,
                               size_t n, int sync, void *head,
                               int64_t epoch, uint64_t size, uint64_t gen,
                               uint64_t ino, uint64_t seq, uint64_t first,
                               const char *hash)
{
    struct craton_audit_head *h = head;
    size_t done = 0;
    int err;

    __atomic_store_n(&h->epoch, (uint64_t)epoch, __ATOMIC_RELEASE);
    while (done < n) {
        ssize_t w = write(log_fd, line + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            err = w < 0 ? errno : EIO;
            while (ftruncate(log_fd, (off_t)size) != 0 && errno == EINTR)
                ;
            return -err;
        }
        done += (size_t)w;
    }
    if (sync && fsync(log_fd) != 0)
        return -errno;
    h->gen = gen;
    h->ino = ino;
    h->size = size + n;
    h->seq = seq;
    h->first = first;
    memcpy(h->hash, hash, sizeof(h->hash));
    __atomic_store_n(&h->done, (uint64_t)epoch, __ATOMIC_RELEASE);
    flock(lock_fd, LOCK_UN);
    return 0;
}

/* ---- One record in one call (docs/audit.md "Overhead") -----------------
 *
 * The common record -- SHA-256 chain, no genesis, checkpoint or rotation
 * due, nothing in it that JSON escapes -- is finished here: Python hands
 * over the canonical body with placeholders for the members that need the
 * lock (prev, seq) or are best taken under it (time); this fills them in,
 * hashes the body, splices "hash" in, writes, publishes the shared head
 * and unlocks.  The trail's state lives in struct craton_audit_trail
 * (Python's Trail copies it in and out around anything it does itself).
 *
 * SHA-256 comes from the process's libcrypto (libcrypto.so.3, which
 * Python's _hashlib already maps), resolved at run time: no build
 * dependency.  craton_hsm/abi/audited.py checks it against hashlib
 * (known answers) before any trail uses it; without it the trail hashes
 * in Python as before. */
#include <dlfcn.h>
#include <pthread.h>
#include <time.h>

struct craton_audit_trail {
    int lock_fd, log_fd;
    void *head;                 /* the shared head (audit.lock) */
    int64_t epoch;              /* the head epoch this process left; -1 */
    uint64_t gen, ino, size, seq, first;
    uint64_t max_bytes, every;
    int fast;                   /* SHA-256 chain and the C hash checked */
    int fsync_all, fsync_state;
    int64_t stamp_sec;          /* the second stamp[] was formatted for */
    char stamp[20];             /* "YYYY-MM-DDTHH:MM:SS" */
    char hash[64];              /* the last record's hash (hex) */
    /* Orders this process's threads (flock does not: they share the
       descriptor); held from craton_audit_append's return 1 or 2 until
       craton_audit_unlock. */
    pthread_mutex_t mu;
    void *md_ctx;               /* a reused EVP_MD_CTX, or NULL */
};

typedef int (*craton_evp_digest_fn)(const void *, size_t, unsigned char *,
                                    unsigned int *, const void *, void *);
static struct {
    craton_evp_digest_fn digest;     /* one-shot */
    void *(*ctx_new)(void);          /* a reused context (optional) */
    void (*ctx_free)(void *);
    int (*init)(void *, const void *, void *);
    int (*update)(void *, const void *, size_t);
    int (*final)(void *, unsigned char *, unsigned int *);
} craton_evp;
static const void *craton_evp_md;   /* set last: craton_evp is complete */

/* Resolve SHA-256 in ``name``: 0 when found, -1 otherwise (a failed load
   leaves an earlier one in place; the first one found stays). */
static int craton_audit_crypto_load(const char *name)
{
    void *lib, *(*fetch)(void *, const char *, const char *);
    const void *(*legacy)(void);
    craton_evp_digest_fn digest;
    const void *md = NULL;

    lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL)
        return -1;
    digest = (craton_evp_digest_fn)dlsym(lib, "EVP_Digest");
    /* OpenSSL 3: an explicitly fetched digest skips the per-call
       implicit fetch; EVP_sha256 is the 1.1 way. */
    fetch = (void *(*)(void *, const char *, const char *))
        dlsym(lib, "EVP_MD_fetch");
    if (fetch != NULL)
        md = fetch(NULL, "SHA256", NULL);
    if (md == NULL) {
        legacy = (const void *(*)(void))dlsym(lib, "EVP_sha256");
        md = legacy != NULL ? legacy() : NULL;
    }
    if (digest == NULL || md == NULL) {
        dlclose(lib);
        return -1;
    }
    if (__atomic_load_n(&craton_evp_md, __ATOMIC_ACQUIRE) == NULL) {
        craton_evp.digest = digest;
        craton_evp.ctx_new = (void *(*)(void))dlsym(lib, "EVP_MD_CTX_new");
        craton_evp.ctx_free = (void (*)(void *))dlsym(lib,
                                                      "EVP_MD_CTX_free");
        craton_evp.init = (int (*)(void *, const void *, void *))
            dlsym(lib, "EVP_DigestInit_ex");
        craton_evp.update = (int (*)(void *, const void *, size_t))
            dlsym(lib, "EVP_DigestUpdate");
        craton_evp.final = (int (*)(void *, unsigned char *, unsigned int *))
            dlsym(lib, "EVP_DigestFinal_ex");
        __atomic_store_n(&craton_evp_md, md, __ATOMIC_RELEASE);
    }
    return 0;    /* the library stays mapped: md points into it */
}

/* SHA-256 of data as 64 lowercase hex digits, through ``ctx`` when given
   (an EVP_MD_CTX from craton_audit_init: no allocation per record); -1
   without libcrypto. */
static int craton_sha256_hex(void *ctx, const char *data, size_t n,
                             char *out)
{
    static const char hex[] = "0123456789abcdef";
    const void *md = __atomic_load_n(&craton_evp_md, __ATOMIC_ACQUIRE);
    unsigned char d[32];
    unsigned int len = 0;
    int i;

    if (md == NULL)
        return -1;
    if (ctx != NULL) {
        if (craton_evp.init(ctx, md, NULL) != 1
                || craton_evp.update(ctx, data, n) != 1
                || craton_evp.final(ctx, d, &len) != 1)
            return -1;
    } else if (craton_evp.digest(data, n, d, &len, md, NULL) != 1) {
        return -1;
    }
    if (len != 32)
        return -1;
    for (i = 0; i < 32; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    return 0;
}

/* The same, one-shot (the start-up known-answer test, tests). */
static int craton_audit_sha256_hex(const char *data, size_t n, char *out)
{
    return craton_sha256_hex(NULL, data, n, out);
}

/* A new state (zeroed by the caller): its mutex and digest context. */
static int craton_audit_init(struct craton_audit_trail *t)
{
    if (__atomic_load_n(&craton_evp_md, __ATOMIC_ACQUIRE) != NULL
            && craton_evp.ctx_new != NULL && craton_evp.ctx_free != NULL
            && craton_evp.init != NULL && craton_evp.update != NULL
            && craton_evp.final != NULL)
        t->md_ctx = craton_evp.ctx_new();
    return pthread_mutex_init(&t->mu, NULL);
}

static void craton_audit_free(struct craton_audit_trail *t)
{
    if (t->md_ctx != NULL)
        craton_evp.ctx_free(t->md_ctx);
    t->md_ctx = NULL;
    pthread_mutex_destroy(&t->mu);
}

static void craton_audit_lock(struct craton_audit_trail *t)
{
    pthread_mutex_lock(&t->mu);
}

static void craton_audit_unlock(struct craton_audit_trail *t)
{
    pthread_mutex_unlock(&t->mu);
}

/* 1: a byte JSON escapes ('"', '\\', C0 controls; RFC 8259 section 7),
   2: a comma (where members start), 0: anything else. */
static const unsigned char craton_json_class[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    ['"'] = 1, [','] = 2, ['\\'] = 1,
};

#define CRATON_LINE_MAX 4096
#define CRATON_PREV "\"prev\":\""   /* then 64 hex digits and '"' */
#define CRATON_SEQ ",\"seq\":"      /* then the digits */
#define CRATON_TIME ",\"time\":\""  /* then 27 characters and '"' */
#define CRATON_STAMP_LEN 27         /* 2025-01-31T12:00:00.123456Z */

/* The record's time as utc_now() in record.py writes it. */
static void craton_audit_time(struct craton_audit_trail *t, char *out)
{
    struct timespec ts;
    struct tm tm;
    long micro;
    int i;

    clock_gettime(CLOCK_REALTIME, &ts);
    if ((int64_t)ts.tv_sec != t->stamp_sec) {
        time_t sec = ts.tv_sec;
        gmtime_r(&sec, &tm);
        strftime(t->stamp, sizeof(t->stamp), "%Y-%m-%dT%H:%M:%S", &tm);
        t->stamp_sec = (int64_t)ts.tv_sec;
    }
    memcpy(out, t->stamp, 19);
    out[19] = '.';
    micro = ts.tv_nsec / 1000;
    for (i = 25; i >= 20; i--) {
        out[i] = (char)('0' + micro % 10);
        micro /= 10;
    }
    out[26] = 'Z';
}

/* Append one record.  ``body``: the record's canonical JSON without
   "hash", its "prev" and "time" values placeholders of their length, its
   "seq" member without digits; ``marker`` the member "hash" goes before
   (',"key":'); ``quotes`` the bytes JSON escapes that body's own format
   holds (more means a value needs escaping).
   The state's mutex, then the flock, are taken first.
   0: written and unlocked.  -errno: not written, unlocked (a torn line is
   cut back first; the next append re-reads the head).  1: the head
   changed (another process appended), 2: a record Python must write
   (genesis, checkpoint or rotation due, escaping, no C hash): both with
   the mutex and the flock held and nothing written. */
static int craton_audit_append(struct craton_audit_trail *t,
                               const char *body, size_t n,
                               const char *marker, size_t marker_n,
                               int quotes, int durable)
{
    struct craton_audit_head *h = t->head;
    const char *p, *s, *tm, *m, *b;
    char hashed[CRATON_LINE_MAX], line[CRATON_LINE_MAX + 80], digits[24];
    size_t k, at, len, nd = 0, written = 0;
    uint64_t seq, v;
    int64_t epoch;
    int escapes = 0, err;

    pthread_mutex_lock(&t->mu);
    while (flock(t->lock_fd, LOCK_EX) != 0)
        if (errno != EINTR) {
            err = errno;
            pthread_mutex_unlock(&t->mu);
            return -err;
        }
    if (t->epoch < 0
            || __atomic_load_n(&h->epoch, __ATOMIC_ACQUIRE)
               != (uint64_t)t->epoch
            || !craton_audit_linked(t->log_fd))
        return 1;
    seq = t->seq + 1;
    if (!t->fast || seq == 1 || t->every == 0 || seq % t->every == 0
            || n > CRATON_LINE_MAX - 64)
        return 2;
    /* One pass: count what JSON escapes and find the members at the
       commas.  No value holds a '"' when the count is the format's own,
       so the first ',"key":' found is that member. */
    m = p = s = tm = NULL;
    for (b = body; b < body + n; b++) {
        unsigned char c = craton_json_class[(unsigned char)*b];
        size_t rest;

        if (c == 0)
            continue;
        if (c == 1) {
            escapes++;
            continue;
        }
        rest = (size_t)(body + n - b);
        if (m == NULL && rest >= marker_n && !memcmp(b, marker, marker_n))
            m = b;
        if (rest < sizeof(CRATON_PREV))
            continue;
        if (p == NULL && !memcmp(b + 1, CRATON_PREV, sizeof(CRATON_PREV) - 1))
            p = b;
        else if (s == NULL && !memcmp(b, CRATON_SEQ, sizeof(CRATON_SEQ) - 1))
            s = b;
        else if (tm == NULL
                 && !memcmp(b, CRATON_TIME, sizeof(CRATON_TIME) - 1))
            tm = b;
    }
    if (escapes != quotes || m == NULL || p == NULL || s == NULL
            || tm == NULL || m > p)
        return 2;
    p += sizeof(CRATON_PREV);                     /* the 64 digits */
    if (s < p + 65)
        return 2;
    s += sizeof(CRATON_SEQ) - 1;                  /* where digits go */
    if (tm < s || (size_t)(body + n - tm) < sizeof(CRATON_TIME) + 27)
        return 2;
    tm += sizeof(CRATON_TIME) - 1;                /* the 27 characters */
    for (v = seq; v; v /= 10)
        digits[sizeof(digits) - ++nd] = (char)('0' + v % 10);

    /* The hashed body: body with prev, seq and time filled in. */
    len = (size_t)(p - body);
    memcpy(hashed, body, len);
    memcpy(hashed + len, t->hash, 64);
    len += 64;
    k = (size_t)(s - (p + 64));
    memcpy(hashed + len, p + 64, k);
    len += k;
    memcpy(hashed + len, digits + sizeof(digits) - nd, nd);
    len += nd;
    k = (size_t)(tm - s);
    memcpy(hashed + len, s, k);
    len += k;
    craton_audit_time(t, hashed + len);
    len += CRATON_STAMP_LEN;
    k = (size_t)(body + n - (tm + CRATON_STAMP_LEN));
    memcpy(hashed + len, tm + CRATON_STAMP_LEN, k);
    len += k;

    /* The line: "hash" spliced in at the marker (before prev, so at
       the same offset in hashed as in body). */
    at = (size_t)(m - body);
    memcpy(line, hashed, at);
    memcpy(line + at, ",\"hash\":\"", 9);
    if (craton_sha256_hex(t->md_ctx, hashed, len, line + at + 9) != 0)
        return 2;
    line[at + 73] = '"';
    memcpy(line + at + 74, hashed + at, len - at);
    len += 74;
    line[len++] = '\n';
    if (t->size + len > t->max_bytes)
        return 2;                                 /* rotation */

    epoch = (t->epoch + 1) & INT64_MAX;
    t->epoch = -1;               /* until published: re-read on failure */
    __atomic_store_n(&h->epoch, (uint64_t)epoch, __ATOMIC_RELEASE);
    while (written < len) {
        ssize_t w = write(t->log_fd, line + written, len - written);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            err = w < 0 ? errno : EIO;
            while (ftruncate(t->log_fd, (off_t)t->size) != 0
                   && errno == EINTR)
                ;
            flock(t->lock_fd, LOCK_UN);
            pthread_mutex_unlock(&t->mu);
            return -err;
        }
        written += (size_t)w;
    }
    if ((t->fsync_all || (durable && t->fsync_state))
            && fsync(t->log_fd) != 0) {
        err = errno;
        /* Not published (epoch != done): the next append, here or in
           another process, re-reads the log. */
        flock(t->lock_fd, LOCK_UN);
        pthread_mutex_unlock(&t->mu);
        return -err;
    }
    t->seq = seq;
    t->size += len;
    memcpy(t->hash, line + at + 9, 64);
    h->gen = t->gen;
    h->ino = t->ino;
    h->size = t->size;
    h->seq = seq;
    h->first = t->first;
    memcpy(h->hash, t->hash, sizeof(h->hash));
    __atomic_store_n(&h->done, (uint64_t)epoch, __ATOMIC_RELEASE);
    t->epoch = epoch;
    flock(t->lock_fd, LOCK_UN);
    pthread_mutex_unlock(&t->mu);
    return 0;
}
