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
#include <stdint.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

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
    struct stat st;

    while (flock(lock_fd, LOCK_EX) != 0)
        if (errno != EINTR)
            return -errno;
    if ((int64_t)__atomic_load_n(&h->epoch, __ATOMIC_ACQUIRE) != epoch)
        return 1;
    if (fstat(log_fd, &st) != 0 || st.st_nlink == 0)
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
