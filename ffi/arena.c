/* The key-material arena of libcraton_hsm.so (issue 8, "Memory hygiene";
 * shared/notes/dependencies.md, "wiping and locking memory").
 *
 * One anonymous mapping, made once per process: mlock(2)ed so key bytes
 * never reach swap, and madvise(MADV_DONTDUMP) so they never reach a core
 * dump.  craton_hsm/secmem.py hands out fixed slices of it and wipes them
 * here with explicit_bzero(3), which the compiler may not elide (a plain
 * memset before free is dead-store eliminated).  Pasted by
 * ffi/build_hsm.py into the cffi preamble; called from Python through
 * the cffi lib (declared in the cdef), never exported (version script).
 *
 * A failed mlock (RLIMIT_MEMLOCK, no CAP_IPC_LOCK) leaves the arena
 * mapped but unlocked: the status bits say so and Python logs it.  A
 * failed mmap leaves no arena; Python then uses its own bytearray.
 */
#include <errno.h>
#include <sys/mman.h>

#define CRATON_ARENA_MAPPED   1
#define CRATON_ARENA_LOCKED   2
#define CRATON_ARENA_DONTDUMP 4

static unsigned char *craton_arena;
static size_t craton_arena_len;
static int craton_arena_status;
static int craton_arena_errno;

/* Lock the whole arena.  MLOCK_ONFAULT (mlock2(2), Linux 4.4) locks each
   page when it is first touched instead of faulting all of them in now:
   a page is locked before any key byte can be written to it, so nothing
   ever reaches swap, yet the untouched tail of the arena costs no RSS
   (issue 9: a plain mlock made 4 MiB resident at C_Initialize).  The
   RLIMIT_MEMLOCK check covers the whole range either way (mm/mlock.c), so
   a too-small limit still fails here, not later.  Kernels or libcs
   without it (ENOSYS, EINVAL) get the plain mlock. */
static int craton_arena_lock(void)
{
#ifdef MLOCK_ONFAULT
    if (mlock2(craton_arena, craton_arena_len, MLOCK_ONFAULT) == 0)
        return 0;
    if (errno != ENOSYS && errno != EINVAL)
        return -1;
#endif
    return mlock(craton_arena, craton_arena_len);
}

/* Map (first call only) and lock the arena; returns the status bits.
   Called again in a forked child, where mlock must be redone: memory
   locks are not inherited across fork (mlock(2), NOTES). */
static int craton_arena_open(size_t size)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t len;

    if (craton_arena == NULL) {
        if (size == 0 || page <= 0)
            return 0;
        len = (size + (size_t)page - 1) & ~((size_t)page - 1);
        void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            craton_arena_errno = errno;
            return 0;
        }
        craton_arena = p;
        craton_arena_len = len;
        craton_arena_status = CRATON_ARENA_MAPPED;
#ifdef MADV_DONTDUMP
        if (madvise(craton_arena, len, MADV_DONTDUMP) == 0)
            craton_arena_status |= CRATON_ARENA_DONTDUMP;
#endif
    }
    craton_arena_errno = 0;
    craton_arena_status &= ~CRATON_ARENA_LOCKED;
    if (craton_arena_lock() == 0)
        craton_arena_status |= CRATON_ARENA_LOCKED;
    else
        craton_arena_errno = errno;
    return craton_arena_status;
}

static void *craton_arena_base(void)
{
    return craton_arena;
}

static size_t craton_arena_size(void)
{
    return craton_arena_len;
}

static int craton_arena_error(void)
{
    return craton_arena_errno;
}

/* Wipe [offset, offset + n) of the arena; out-of-range requests are
   clipped, never written past the mapping. */
static void craton_arena_wipe(size_t offset, size_t n)
{
    if (craton_arena == NULL || offset >= craton_arena_len)
        return;
    if (n > craton_arena_len - offset)
        n = craton_arena_len - offset;
    explicit_bzero(craton_arena + offset, n);
}
