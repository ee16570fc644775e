/* Threads and fork against libcraton_hsm.so from C (issue 8), driven by
 * tests/abi/test_threads_fork.py.  Needs CRATON_HSM_DATA_DIR set to an
 * empty directory; prints key=value lines and "FAIL ..." lines, exits
 * non-zero on any broken check.
 *
 *   stress LIB threads os|app|both ROUNDS
 *       8 threads on their own sessions (ECDSA sign+verify, SHA-256,
 *       token/session object create+destroy, login/logout) and 8 threads
 *       on ONE shared session, ROUNDS times; every CK_RV from an allowed
 *       set, results correct, object count unchanged.  os: CKF_OS_LOCKING_OK;
 *       app: pthread-mutex callbacks only (PKCS#11 v3.0 5.4 case 3), whose
 *       calls are counted; both: callbacks and the flag (case 4).
 *   stress LIB mutexfail      LockMutex/CreateMutex errors propagate
 *   stress LIB args           C_Initialize argument checks
 *   stress LIB fork ROUNDS    children with and without C_Initialize, and
 *                             ROUNDS forks while other threads are busy
 *                             inside the module
 *
 * A watchdog (alarm) turns any deadlock into SIGALRM.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pkcs11_types.h"
#include "pkcs11_constants.h"
#include NAMES_H

#define N_FUNCTIONS 104
#define N_THREADS 8
#define ITERATIONS 3

typedef struct {
    CK_VERSION version;
    void *fn[N_FUNCTIONS];
} table_t;

typedef CK_SESSION_HANDLE SH;
typedef CK_OBJECT_HANDLE OH;

static struct {
    CK_RV (*Initialize)(void *);
    CK_RV (*Finalize)(void *);
    CK_RV (*GetInfo)(CK_INFO *);
    CK_RV (*InitToken)(CK_SLOT_ID, CK_BYTE *, CK_ULONG, CK_BYTE *);
    CK_RV (*InitPIN)(SH, CK_BYTE *, CK_ULONG);
    CK_RV (*OpenSession)(CK_SLOT_ID, CK_FLAGS, void *, void *, SH *);
    CK_RV (*CloseSession)(SH);
    CK_RV (*GetSessionInfo)(SH, CK_SESSION_INFO *);
    CK_RV (*Login)(SH, CK_ULONG, CK_BYTE *, CK_ULONG);
    CK_RV (*Logout)(SH);
    CK_RV (*CreateObject)(SH, CK_ATTRIBUTE *, CK_ULONG, OH *);
    CK_RV (*DestroyObject)(SH, OH);
    CK_RV (*GetAttributeValue)(SH, OH, CK_ATTRIBUTE *, CK_ULONG);
    CK_RV (*FindObjectsInit)(SH, CK_ATTRIBUTE *, CK_ULONG);
    CK_RV (*FindObjects)(SH, OH *, CK_ULONG, CK_ULONG *);
    CK_RV (*FindObjectsFinal)(SH);
    CK_RV (*DigestInit)(SH, CK_MECHANISM *);
    CK_RV (*Digest)(SH, CK_BYTE *, CK_ULONG, CK_BYTE *, CK_ULONG *);
    CK_RV (*DigestUpdate)(SH, CK_BYTE *, CK_ULONG);
    CK_RV (*DigestFinal)(SH, CK_BYTE *, CK_ULONG *);
    CK_RV (*SignInit)(SH, CK_MECHANISM *, OH);
    CK_RV (*Sign)(SH, CK_BYTE *, CK_ULONG, CK_BYTE *, CK_ULONG *);
    CK_RV (*VerifyInit)(SH, CK_MECHANISM *, OH);
    CK_RV (*Verify)(SH, CK_BYTE *, CK_ULONG, CK_BYTE *, CK_ULONG);
    CK_RV (*GenerateKeyPair)(SH, CK_MECHANISM *, CK_ATTRIBUTE *, CK_ULONG,
                             CK_ATTRIBUTE *, CK_ULONG, OH *, OH *);
    CK_RV (*GenerateRandom)(SH, CK_BYTE *, CK_ULONG);
} p;

static table_t *t32;
static int failures;

#define CHECK(cond, ...)                                                \
    do {                                                                \
        if (!(cond)) {                                                  \
            printf("FAIL line %d: ", __LINE__);                         \
            printf(__VA_ARGS__);                                        \
            printf("\n");                                               \
            fflush(stdout);                                             \
            __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);         \
        }                                                               \
    } while (0)
#define EXPECT(call, want)                                              \
    do {                                                                \
        CK_RV rv_ = (call);                                             \
        CHECK(rv_ == (want), "%s = 0x%lx, want 0x%lx", #call, rv_,      \
              (CK_RV)(want));                                           \
    } while (0)

static void *fn(const char *name)
{
    int i;

    for (i = 0; i < N_FUNCTIONS; i++)
        if (strcmp(FUNCTION_NAMES[i], name) == 0)
            return t32->fn[i];
    fprintf(stderr, "unknown function %s\n", name);
    exit(2);
}

#define BIND(name) (*(void **)&p.name = fn("C_" #name))

static void bind(void *lib)
{
    CK_RV (*get)(CK_UTF8CHAR *, CK_VERSION *, CK_INTERFACE **, CK_FLAGS) =
        dlsym(lib, "C_GetInterface");
    CK_INTERFACE *it = NULL;

    if (get == NULL || get(NULL, NULL, &it, 0) != CKR_OK) {
        fprintf(stderr, "C_GetInterface failed\n");
        exit(2);
    }
    t32 = (table_t *)it->pFunctionList;
    BIND(Initialize); BIND(Finalize); BIND(GetInfo); BIND(InitToken);
    BIND(InitPIN); BIND(OpenSession); BIND(CloseSession);
    BIND(GetSessionInfo); BIND(Login); BIND(Logout); BIND(CreateObject);
    BIND(DestroyObject); BIND(GetAttributeValue); BIND(FindObjectsInit);
    BIND(FindObjects); BIND(FindObjectsFinal); BIND(DigestInit);
    BIND(Digest); BIND(DigestUpdate); BIND(DigestFinal); BIND(SignInit);
    BIND(Sign); BIND(VerifyInit); BIND(Verify); BIND(GenerateKeyPair);
    BIND(GenerateRandom);
}

/* ---- application mutexes (pthread), counted ------------------------- */

static long n_create, n_destroy, n_lock, n_unlock;
static long fail_lock_after = -1;     /* LockMutex fails after N calls */
static int fail_create;

static CK_RV app_create(void **out)
{
    pthread_mutex_t *m;

    if (fail_create)
        return CKR_HOST_MEMORY;
    m = malloc(sizeof(*m));
    if (m == NULL)
        return CKR_HOST_MEMORY;
    pthread_mutex_init(m, NULL);
    *out = m;
    __atomic_add_fetch(&n_create, 1, __ATOMIC_RELAXED);
    return CKR_OK;
}

static CK_RV app_destroy(void *m)
{
    pthread_mutex_destroy(m);
    free(m);
    __atomic_add_fetch(&n_destroy, 1, __ATOMIC_RELAXED);
    return CKR_OK;
}

static CK_RV app_lock(void *m)
{
    long n = __atomic_add_fetch(&n_lock, 1, __ATOMIC_RELAXED);

    if (fail_lock_after >= 0 && n > fail_lock_after) {
        __atomic_sub_fetch(&n_lock, 1, __ATOMIC_RELAXED);
        return CKR_MUTEX_BAD;
    }
    /* Non-recursive: a module that re-entered without counting would
       deadlock here (and the watchdog would say so). */
    return pthread_mutex_lock(m) == 0 ? CKR_OK : CKR_GENERAL_ERROR;
}

static CK_RV app_unlock(void *m)
{
    __atomic_add_fetch(&n_unlock, 1, __ATOMIC_RELAXED);
    return pthread_mutex_unlock(m) == 0 ? CKR_OK : CKR_MUTEX_NOT_LOCKED;
}

static CK_RV init_with(CK_FLAGS flags, int callbacks)
{
    CK_C_INITIALIZE_ARGS a;

    memset(&a, 0, sizeof(a));
    a.flags = flags;
    if (callbacks) {
        a.CreateMutex = app_create;
        a.DestroyMutex = app_destroy;
        a.LockMutex = app_lock;
        a.UnlockMutex = app_unlock;
    }
    return p.Initialize(&a);
}

/* ---- token set-up ---------------------------------------------------- */

static CK_BYTE SO_PIN[] = "so-pin-1234";
static CK_BYTE USER_PIN[] = "user-pin-1234";
#define PINLEN(x) (sizeof(x) - 1)
static CK_BYTE P256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03,
                         0x01, 0x07};
static CK_BBOOL T = CK_TRUE, F = CK_FALSE;
static CK_MECHANISM SHA256 = {CKM_SHA256, NULL, 0};
static CK_MECHANISM ECDSA = {CKM_ECDSA, NULL, 0};
static CK_MECHANISM ECGEN = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
#define RWS (CKF_SERIAL_SESSION | CKF_RW_SESSION)

static void init_token(CK_SLOT_ID slot)
{
    SH s;

    EXPECT(p.InitToken(slot, SO_PIN, PINLEN(SO_PIN),
                       (CK_BYTE *)"stress                          "),
           CKR_OK);
    EXPECT(p.OpenSession(slot, RWS, NULL, NULL, &s), CKR_OK);
    EXPECT(p.Login(s, CKU_SO, SO_PIN, PINLEN(SO_PIN)), CKR_OK);
    EXPECT(p.InitPIN(s, USER_PIN, PINLEN(USER_PIN)), CKR_OK);
    EXPECT(p.CloseSession(s), CKR_OK);
}

/* An EC P-256 pair; `token`/`private` set CKA_TOKEN/CKA_PRIVATE of the
   private key. */
static void ec_pair(SH s, int token, int private, OH *pub, OH *priv)
{
    CK_ATTRIBUTE pt[] = {
        {CKA_EC_PARAMS, P256, sizeof(P256)},
        {CKA_VERIFY, &T, 1},
        {CKA_TOKEN, token ? &T : &F, 1},
    };
    CK_ATTRIBUTE vt[] = {
        {CKA_SIGN, &T, 1},
        {CKA_TOKEN, token ? &T : &F, 1},
        {CKA_PRIVATE, private ? &T : &F, 1},
    };
    EXPECT(p.GenerateKeyPair(s, &ECGEN, pt, 3, vt, 3, pub, priv), CKR_OK);
}

static CK_ULONG count_objects(SH s)
{
    OH found[256];
    CK_ULONG n = 0, total = 0;

    EXPECT(p.FindObjectsInit(s, NULL, 0), CKR_OK);
    do {
        EXPECT(p.FindObjects(s, found, 256, &n), CKR_OK);
        total += n;
    } while (n == 256);
    EXPECT(p.FindObjectsFinal(s), CKR_OK);
    return total;
}

/* ---- thread stress ---------------------------------------------------- */

static SH shared;                    /* the one session many threads use */
static OH shared_pub, shared_priv;   /* session keys of `shared` */
static OH token_pub, token_priv;     /* private token key: needs login */
static OH own_pub[N_THREADS], own_priv[N_THREADS];  /* per-thread keys */
static pthread_barrier_t start_line;
static long n_calls, n_busy;         /* calls, and "operation busy" codes */
static long n_shared_ok, n_shared_wrong;  /* CKR_OK results on `shared` */

static int allowed(CK_RV rv, const CK_RV *set, int n)
{
    int i;

    for (i = 0; i < n; i++)
        if (rv == set[i])
            return 1;
    return 0;
}

#define ALLOW(call, ...)                                                  \
    ({                                                                    \
        static const CK_RV set_[] = {__VA_ARGS__};                        \
        CK_RV rv_ = (call);                                               \
        __atomic_add_fetch(&n_calls, 1, __ATOMIC_RELAXED);                \
        if (rv_ == CKR_OPERATION_ACTIVE ||                                \
            rv_ == CKR_OPERATION_NOT_INITIALIZED)                         \
            __atomic_add_fetch(&n_busy, 1, __ATOMIC_RELAXED);             \
        CHECK(allowed(rv_, set_, sizeof(set_) / sizeof(set_[0])),         \
              "%s = 0x%lx not allowed", #call, rv_);                      \
        rv_;                                                              \
    })

/* Own-session calls: exact results, except that a C_Login/C_Logout by
   thread 0 may end any active operation of the application (spec 5.6:
   "it may or may not be possible to continue"). */
#define CLEARED CKR_OPERATION_NOT_INITIALIZED

static int own_digest(SH s, CK_BYTE *data, CK_ULONG n, CK_BYTE *out)
{
    CK_BYTE again[32];
    CK_ULONG len = 32;

    EXPECT(p.DigestInit(s, &SHA256), CKR_OK);
    if (ALLOW(p.Digest(s, data, n, out, &len), CKR_OK, CLEARED) != CKR_OK)
        return 0;
    CHECK(len == 32, "digest length %lu", len);
    len = 32;
    EXPECT(p.DigestInit(s, &SHA256), CKR_OK);
    if (ALLOW(p.DigestUpdate(s, data, 5), CKR_OK, CLEARED) != CKR_OK ||
        ALLOW(p.DigestUpdate(s, data + 5, n - 5), CKR_OK, CLEARED)
            != CKR_OK ||
        ALLOW(p.DigestFinal(s, again, &len), CKR_OK, CLEARED) != CKR_OK) {
        p.DigestFinal(s, again, &len);    /* end it if still active */
        return 1;
    }
    CHECK(len == 32 && memcmp(out, again, 32) == 0,
          "multi-part digest differs");
    return 1;
}

/* 1: valid, 0: operation ended by another thread's login/logout. */
static int verify(SH s, OH pub, CK_BYTE *data, CK_ULONG n, CK_BYTE *sig,
                  CK_ULONG siglen)
{
    EXPECT(p.VerifyInit(s, &ECDSA, pub), CKR_OK);
    return ALLOW(p.Verify(s, data, n, sig, siglen), CKR_OK, CLEARED)
        == CKR_OK;
}

static void create_destroy(SH s, int token, int id)
{
    CK_OBJECT_CLASS cls = CKO_DATA;
    char value[32], back[32];
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_TOKEN, token ? &T : &F, 1},
        {CKA_PRIVATE, &F, 1},
        {CKA_VALUE, value, sizeof(value)},
    };
    CK_ATTRIBUTE get = {CKA_VALUE, back, sizeof(back)};
    OH h = 0;

    snprintf(value, sizeof(value), "thread %d object %d", id, token);
    EXPECT(p.CreateObject(s, t, 4, &h), CKR_OK);
    EXPECT(p.GetAttributeValue(s, h, &get, 1), CKR_OK);
    CHECK(get.ulValueLen == sizeof(value) &&
          memcmp(back, value, sizeof(value)) == 0, "object value torn");
    EXPECT(p.DestroyObject(s, h), CKR_OK);
}

/* Own session: nothing another thread does may change our results,
   except the login state, which only thread 0 changes. */
static void *own_worker(void *arg)
{
    int id = (int)(long)arg, i;
    CK_BYTE data[48], ref[32], sig[80];
    CK_ULONG siglen;
    SH s;
    OH pub = own_pub[id], priv = own_priv[id];

    memset(data, 'a' + id, sizeof(data));
    EXPECT(p.OpenSession(0, RWS, NULL, NULL, &s), CKR_OK);
    pthread_barrier_wait(&start_line);
    for (i = 0; i < ITERATIONS; i++) {
        if (!own_digest(s, data, sizeof(data), ref))
            memset(ref, i, sizeof(ref));
        siglen = sizeof(sig);
        EXPECT(p.SignInit(s, &ECDSA, priv), CKR_OK);
        if (ALLOW(p.Sign(s, ref, 32, sig, &siglen), CKR_OK, CLEARED)
                == CKR_OK)
            verify(s, pub, ref, 32, sig, siglen);
        create_destroy(s, i % 2, id);
        if (id == 0 && i == ITERATIONS / 2) {
            CK_SESSION_INFO info;

            /* Login state belongs to the application (spec 2.6): only
               this thread changes it, so its own results are exact. */
            EXPECT(p.Login(s, CKU_USER, USER_PIN, PINLEN(USER_PIN)),
                   CKR_OK);
            EXPECT(p.GetSessionInfo(s, &info), CKR_OK);
            CHECK(info.state == CKS_RW_USER_FUNCTIONS, "state %lu",
                  info.state);
            siglen = sizeof(sig);
            EXPECT(p.SignInit(s, &ECDSA, token_priv), CKR_OK);
            EXPECT(p.Sign(s, ref, 32, sig, &siglen), CKR_OK);
            CHECK(verify(s, token_pub, ref, 32, sig, siglen), "token key");
            EXPECT(p.Logout(s), CKR_OK);
        }
    }
    EXPECT(p.CloseSession(s), CKR_OK);
    return NULL;
}

/* Counted, not failed: spec 2.6 leaves concurrent use of one session
   undefined, and two concurrent one-shot calls feed one operation. */
static void tally(int right)
{
    __atomic_add_fetch(right ? &n_shared_ok : &n_shared_wrong, 1,
                       __ATOMIC_RELAXED);
}

/* The shared session: the application breaks the spec's rule that a
   session is used by one thread at a time (2.6), so operations may be
   stolen or refused; codes must stay in the allowed set. */
static void *shared_worker(void *arg)
{
    int id = (int)(long)arg, i;
    CK_BYTE data[40], ref[32], out[32], sig[80];
    CK_ULONG len, siglen;
    CK_SESSION_INFO info;
    SH own;
    OH found[8];
    CK_ULONG n;

    memset(data, 'A' + id, sizeof(data));
    EXPECT(p.OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &own), CKR_OK);
    for (i = 0; i < 100 && !own_digest(own, data, sizeof(data), ref); i++)
        ;
    pthread_barrier_wait(&start_line);
    for (i = 0; i < ITERATIONS; i++) {
        len = sizeof(out);
        ALLOW(p.DigestInit(shared, &SHA256), CKR_OK, CKR_OPERATION_ACTIVE);
        if (ALLOW(p.Digest(shared, data, sizeof(data), out, &len), CKR_OK,
                  CKR_OPERATION_NOT_INITIALIZED) == CKR_OK)
            tally(len == 32 && memcmp(out, ref, 32) == 0);
        siglen = sizeof(sig);
        ALLOW(p.SignInit(shared, &ECDSA, shared_priv), CKR_OK,
              CKR_OPERATION_ACTIVE);
        if (ALLOW(p.Sign(shared, ref, 32, sig, &siglen), CKR_OK,
                  CKR_OPERATION_NOT_INITIALIZED) == CKR_OK) {
            CK_RV rv;

            EXPECT(p.VerifyInit(own, &ECDSA, shared_pub), CKR_OK);
            rv = ALLOW(p.Verify(own, ref, 32, sig, siglen), CKR_OK,
                       CKR_SIGNATURE_INVALID, CKR_SIGNATURE_LEN_RANGE,
                       CLEARED);
            if (rv == CLEARED)
                continue;
            tally(rv == CKR_OK);
        }
        ALLOW(p.FindObjectsInit(shared, NULL, 0), CKR_OK,
              CKR_OPERATION_ACTIVE);
        ALLOW(p.FindObjects(shared, found, 8, &n), CKR_OK,
              CKR_OPERATION_NOT_INITIALIZED);
        ALLOW(p.FindObjectsFinal(shared), CKR_OK,
              CKR_OPERATION_NOT_INITIALIZED);
        create_destroy(shared, 0, 100 + id);
        EXPECT(p.GetSessionInfo(shared, &info), CKR_OK);
    }
    EXPECT(p.CloseSession(own), CKR_OK);
    return NULL;
}

static void stress_round(void)
{
    pthread_t th[2 * N_THREADS];
    long i;

    pthread_barrier_init(&start_line, NULL, 2 * N_THREADS);
    for (i = 0; i < N_THREADS; i++) {
        pthread_create(&th[i], NULL, own_worker, (void *)i);
        pthread_create(&th[N_THREADS + i], NULL, shared_worker, (void *)i);
    }
    for (i = 0; i < 2 * N_THREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start_line);
    /* A stolen multi-part operation may be left active; end them. */
    {
        CK_BYTE out[80];
        CK_ULONG len = sizeof(out);

        p.Digest(shared, (CK_BYTE *)"x", 1, out, &len);
        len = sizeof(out);
        p.Sign(shared, (CK_BYTE *)"x", 1, out, &len);
        p.FindObjectsFinal(shared);
    }
}

static int run_threads(const char *mode, int rounds)
{
    int callbacks = strcmp(mode, "os") != 0;
    CK_FLAGS flags = strcmp(mode, "app") == 0 ? 0 : CKF_OS_LOCKING_OK;
    CK_ULONG before, after;
    SH admin;
    int r;

    if (init_with(flags, callbacks) != CKR_OK) {
        printf("FAIL C_Initialize\n");
        return 1;
    }
    init_token(0);
    EXPECT(p.OpenSession(0, RWS, NULL, NULL, &admin), CKR_OK);
    EXPECT(p.Login(admin, CKU_USER, USER_PIN, PINLEN(USER_PIN)), CKR_OK);
    ec_pair(admin, 1, 1, &token_pub, &token_priv);
    /* Key generation needs a login; non-private session keys of the
       admin session (open throughout) then sign without one. */
    for (r = 0; r < N_THREADS; r++)
        ec_pair(admin, 0, 0, &own_pub[r], &own_priv[r]);
    EXPECT(p.OpenSession(0, RWS, NULL, NULL, &shared), CKR_OK);
    ec_pair(shared, 0, 0, &shared_pub, &shared_priv);
    EXPECT(p.Logout(admin), CKR_OK);
    before = count_objects(admin);
    for (r = 0; r < rounds; r++)
        stress_round();
    after = count_objects(admin);
    /* Login-visible count too: the private token key is still there. */
    EXPECT(p.Login(admin, CKU_USER, USER_PIN, PINLEN(USER_PIN)), CKR_OK);
    printf("objects_logged_in=%lu\n", count_objects(admin));
    EXPECT(p.Logout(admin), CKR_OK);
    printf("rounds=%d\nobjects_before=%lu\nobjects_after=%lu\n", rounds,
           before, after);
    printf("shared_calls=%ld\nshared_busy=%ld\n", n_calls, n_busy);
    printf("shared_results_right=%ld\nshared_results_wrong=%ld\n",
           n_shared_ok, n_shared_wrong);
    printf("mutex_lock_at_rest_balanced=%d\n", n_lock == n_unlock);
    EXPECT(p.Finalize(NULL), CKR_OK);
    printf("mutex_create=%ld\nmutex_destroy=%ld\nmutex_lock=%ld\n"
           "mutex_unlock=%ld\n", n_create, n_destroy, n_lock, n_unlock);
    printf("failures=%d\n", failures);
    return failures ? 1 : 0;
}

/* ---- mutex callback errors and C_Initialize arguments --------------- */

static int run_mutexfail(void)
{
    SH s;
    CK_RV rv;
    int i;

    fail_create = 1;
    printf("create_fails_init_rv=0x%lx\n", init_with(0, 1));
    fail_create = 0;
    printf("after_failed_init_getinfo_rv=0x%lx\n",
           p.GetInfo(&(CK_INFO){0}));
    printf("after_failed_init_balanced=%d\n", n_create == n_destroy);
    EXPECT(init_with(0, 1), CKR_OK);
    init_token(0);
    fail_lock_after = n_lock;          /* every LockMutex from now fails */
    rv = p.OpenSession(0, RWS, NULL, NULL, &s);
    printf("lock_fails_open_rv=0x%lx\n", rv);
    fail_lock_after = -1;
    EXPECT(p.OpenSession(0, RWS, NULL, NULL, &s), CKR_OK);
    /* The module still works and its locks are balanced. */
    for (i = 0; i < 3; i++) {
        CK_BYTE out[32];
        CK_ULONG len = 32;

        EXPECT(p.DigestInit(s, &SHA256), CKR_OK);
        EXPECT(p.Digest(s, (CK_BYTE *)"abc", 3, out, &len), CKR_OK);
    }
    printf("lock_unlock_balanced=%d\n", n_lock == n_unlock);
    EXPECT(p.Finalize(NULL), CKR_OK);
    printf("create_destroy_balanced=%d\n", n_create == n_destroy);
    printf("failures=%d\n", failures);
    return failures ? 1 : 0;
}

static int run_args(void)
{
    CK_C_INITIALIZE_ARGS a;

    memset(&a, 0, sizeof(a));
    a.CreateMutex = app_create;
    a.LockMutex = app_lock;
    printf("partial_rv=0x%lx\n", p.Initialize(&a));
    memset(&a, 0, sizeof(a));
    a.pReserved = &a;
    printf("reserved_rv=0x%lx\n", p.Initialize(&a));
    memset(&a, 0, sizeof(a));
    a.flags = 0x4;
    printf("unknown_flag_rv=0x%lx\n", p.Initialize(&a));
    a.flags = CKF_LIBRARY_CANT_CREATE_OS_THREADS;
    printf("cant_create_threads_rv=0x%lx\n", p.Initialize(&a));
    printf("finalize_rv=0x%lx\n", p.Finalize(NULL));
    printf("both_rv=0x%lx\n", init_with(CKF_OS_LOCKING_OK, 1));
    {
        SH s;

        EXPECT(p.OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s),
               CKR_TOKEN_NOT_RECOGNIZED);
    }
    EXPECT(p.Finalize(NULL), CKR_OK);
    printf("both_mutex_create=%ld\n", n_create);
    return 0;
}

/* ---- fork ------------------------------------------------------------- */

static int wait_child(pid_t pid, int *hung)
{
    int status = 0;

    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
        (*hung)++;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

/* A child that does not call C_Initialize: every function but the three
   table functions and C_Initialize answers CKR_CRYPTOKI_NOT_INITIALIZED,
   whatever it is given (all-zero arguments: NULL pointers). */
static int child_uninitialised(SH parent_session)
{
    typedef CK_RV (*any_fn)(CK_ULONG, CK_ULONG, CK_ULONG, CK_ULONG,
                            CK_ULONG, CK_ULONG, CK_ULONG, CK_ULONG);
    int i, wrong = 0;
    CK_SESSION_INFO info;

    alarm(20);
    for (i = 0; i < N_FUNCTIONS; i++) {
        const char *name = FUNCTION_NAMES[i];
        CK_RV rv;

        if (strcmp(name, "C_Initialize") == 0 ||
            strcmp(name, "C_GetFunctionList") == 0 ||
            strcmp(name, "C_GetInterfaceList") == 0 ||
            strcmp(name, "C_GetInterface") == 0)
            continue;
        rv = ((any_fn)t32->fn[i])(0, 0, 0, 0, 0, 0, 0, 0);
        if (rv != CKR_CRYPTOKI_NOT_INITIALIZED) {
            printf("FAIL uninitialised child: %s = 0x%lx\n", name, rv);
            wrong++;
        }
    }
    if (p.GetSessionInfo(parent_session, &info) !=
        CKR_CRYPTOKI_NOT_INITIALIZED)
        wrong++;
    printf("child_uninit_checked=%d\n", N_FUNCTIONS - 4);
    fflush(stdout);
    return wrong ? 1 : 0;
}

/* A child that calls C_Initialize: a fresh module.  Writes 32 random
   bytes to `fd` for the parent to compare; `full` also logs in (PBKDF2,
   0.1 s) and signs with the parent's token key. */
static int child_fresh(SH parent_session, int fd, int full)
{
    CK_SESSION_INFO info;
    CK_BYTE rnd[32], sig[80], msg[32] = {1};
    CK_ULONG siglen = sizeof(sig);
    SH s;
    OH pub = 0, priv = 0, found[4];
    CK_ULONG n = 0;
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE byclass = {CKA_CLASS, &cls, sizeof(cls)};

    alarm(20);
    if (p.Initialize(NULL) != CKR_OK)
        return 10;
    /* Nothing of the parent's module survives: sessions, login. */
    if (p.GetSessionInfo(parent_session, &info) != CKR_SESSION_HANDLE_INVALID)
        return 11;
    if (p.OpenSession(0, RWS, NULL, NULL, &s) != CKR_OK)
        return 12;
    if (p.GetSessionInfo(s, &info) != CKR_OK ||
        info.state != CKS_RW_PUBLIC_SESSION)
        return 13;                     /* the parent's login leaked */
    if (p.GenerateRandom(s, rnd, 32) != CKR_OK ||
        write(fd, rnd, 32) != 32)
        return 14;
    if (!full) {
        CK_ULONG len = 32;

        if (p.DigestInit(s, &SHA256) != CKR_OK ||
            p.Digest(s, rnd, 32, msg, &len) != CKR_OK)
            return 20;
        return p.Finalize(NULL) == CKR_OK ? 0 : 19;
    }
    if (p.Login(s, CKU_USER, USER_PIN, PINLEN(USER_PIN)) != CKR_OK)
        return 15;
    /* The token key the parent made is found and signs. */
    if (p.FindObjectsInit(s, &byclass, 1) != CKR_OK ||
        p.FindObjects(s, found, 4, &n) != CKR_OK || n < 1 ||
        p.FindObjectsFinal(s) != CKR_OK)
        return 16;
    priv = found[0];
    cls = CKO_PUBLIC_KEY;
    if (p.FindObjectsInit(s, &byclass, 1) != CKR_OK ||
        p.FindObjects(s, found, 4, &n) != CKR_OK || n < 1 ||
        p.FindObjectsFinal(s) != CKR_OK)
        return 17;
    pub = found[0];
    if (p.SignInit(s, &ECDSA, priv) != CKR_OK ||
        p.Sign(s, msg, 32, sig, &siglen) != CKR_OK ||
        p.VerifyInit(s, &ECDSA, pub) != CKR_OK ||
        p.Verify(s, msg, 32, sig, siglen) != CKR_OK)
        return 18;
    if (p.Logout(s) != CKR_OK || p.Finalize(NULL) != CKR_OK)
        return 19;
    return 0;
}

static volatile int stop_busy;
static SH busy_sessions[4];

static void *busy_rsa(void *arg)
{
    CK_MECHANISM gen = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
    CK_ULONG bits = 3072;
    CK_BYTE e[] = {1, 0, 1};
    CK_ATTRIBUTE pt[] = {{CKA_MODULUS_BITS, &bits, sizeof(bits)},
                         {CKA_PUBLIC_EXPONENT, e, 3},
                         {CKA_TOKEN, &F, 1}};
    CK_ATTRIBUTE vt[] = {{CKA_TOKEN, &F, 1}, {CKA_PRIVATE, &F, 1},
                         {CKA_SIGN, &T, 1}};
    SH s = busy_sessions[0];
    OH pub, priv;

    (void)arg;
    while (!stop_busy) {
        EXPECT(p.GenerateKeyPair(s, &gen, pt, 3, vt, 3, &pub, &priv),
               CKR_OK);
        p.DestroyObject(s, pub);
        p.DestroyObject(s, priv);
    }
    return NULL;
}

static void *busy_login(void *arg)
{
    SH s = busy_sessions[1];

    (void)arg;
    while (!stop_busy) {
        /* PBKDF2 (600,000 rounds) runs inside C_Login; slot 1, so the
           user stays logged in on slot 0 for the key generation. */
        CK_RV rv = p.Login(s, CKU_USER, USER_PIN, PINLEN(USER_PIN));

        CHECK(rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN,
              "busy login 0x%lx", rv);
        if (rv == CKR_OK)
            EXPECT(p.Logout(s), CKR_OK);
    }
    return NULL;
}

static void *busy_random(void *arg)
{
    CK_BYTE buf[4096];
    SH s = busy_sessions[2];

    (void)arg;
    while (!stop_busy)
        EXPECT(p.GenerateRandom(s, buf, sizeof(buf)), CKR_OK);
    return NULL;
}

static void *busy_digest(void *arg)
{
    CK_BYTE data[1 << 14], out[32];
    CK_ULONG len;
    SH s = busy_sessions[3];

    (void)arg;
    memset(data, 7, sizeof(data));
    while (!stop_busy) {
        len = 32;
        EXPECT(p.DigestInit(s, &SHA256), CKR_OK);
        EXPECT(p.Digest(s, data, sizeof(data), out, &len), CKR_OK);
    }
    return NULL;
}

static int run_fork(int rounds)
{
    void *(*busy[4])(void *) = {busy_rsa, busy_login, busy_random,
                                busy_digest};
    pthread_t th[4];
    CK_BYTE parent_rnd[32], child_rnd[32];
    int fds[2], i, hung = 0, ok = 0, bad = 0, code, same_random = 0;
    SH s;
    OH pub, priv;
    pid_t pid;

    if (p.Initialize(NULL) != CKR_OK) {
        printf("FAIL C_Initialize\n");
        return 1;
    }
    init_token(0);
    EXPECT(p.OpenSession(0, RWS, NULL, NULL, &s), CKR_OK);
    EXPECT(p.Login(s, CKU_USER, USER_PIN, PINLEN(USER_PIN)), CKR_OK);
    ec_pair(s, 1, 1, &pub, &priv);

    /* 1. Without C_Initialize the child has no module. */
    fflush(stdout);
    pid = fork();
    if (pid == 0)
        _exit(child_uninitialised(s));
    code = wait_child(pid, &hung);
    printf("uninit_child_exit=%d\n", code);

    /* 2. With it, a fresh module whose DRBG is not the parent's. */
    for (i = 0; i < 3; i++) {
        if (pipe(fds) != 0)
            return 2;
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
            close(fds[0]);
            _exit(child_fresh(s, fds[1], 1));
        }
        close(fds[1]);
        EXPECT(p.GenerateRandom(s, parent_rnd, 32), CKR_OK);
        CHECK(read(fds[0], child_rnd, 32) == 32, "no child random");
        close(fds[0]);
        same_random += memcmp(parent_rnd, child_rnd, 32) == 0;
        code = wait_child(pid, &hung);
        printf("fresh_child_exit_%d=%d\n", i, code);
    }
    printf("same_random=%d\n", same_random);
    {
        CK_SESSION_INFO info;

        /* The parent is untouched: session and login still there. */
        EXPECT(p.GetSessionInfo(s, &info), CKR_OK);
        printf("parent_state=%lu\n", info.state);
    }

    /* 3. Fork while other threads are inside the module. */
    init_token(1);
    for (i = 0; i < 4; i++)
        EXPECT(p.OpenSession(i == 1, RWS, NULL, NULL, &busy_sessions[i]),
               CKR_OK);
    for (i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, busy[i], NULL);
    srand((unsigned)getpid());
    for (i = 0; i < rounds; i++) {
        struct timespec nap = {0, (rand() % 40 + 5) * 1000000L};

        nanosleep(&nap, NULL);
        if (pipe(fds) != 0)
            return 2;
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
            close(fds[0]);
            _exit(child_fresh(0, fds[1], 0));
        }
        close(fds[1]);
        /* Read until the child closes its end (or dies). */
        while (read(fds[0], child_rnd, 32) > 0)
            ;
        close(fds[0]);
        code = wait_child(pid, &hung);
        if (code == 0)
            ok++;
        else {
            printf("busy_child_exit=%d\n", code);
            bad++;
        }
    }
    stop_busy = 1;
    for (i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    printf("busy_children_ok=%d\nbusy_children_bad=%d\nchildren_hung=%d\n",
           ok, bad, hung);
    EXPECT(p.Finalize(NULL), CKR_OK);
    printf("failures=%d\n", failures);
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    void *lib;

    if (argc < 3) {
        fprintf(stderr, "usage: %s LIB MODE [ARGS]\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    alarm(180);                          /* the watchdog */
    lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 2;
    }
    bind(lib);
    if (strcmp(argv[2], "threads") == 0 && argc == 5)
        return run_threads(argv[3], atoi(argv[4]));
    if (strcmp(argv[2], "mutexfail") == 0)
        return run_mutexfail();
    if (strcmp(argv[2], "args") == 0)
        return run_args();
    if (strcmp(argv[2], "fork") == 0 && argc == 4)
        return run_fork(atoi(argv[3]));
    fprintf(stderr, "bad mode\n");
    return 2;
}
