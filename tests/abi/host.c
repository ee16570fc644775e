/* A minimal PKCS#11 C host for tests/abi/test_shim.py.
 *
 *   host LIB info   call sequence, interface checks, function table
 *   host LIB fork   C_Initialize, then 20 forked children call C_GetInfo
 *                   while a parent thread keeps calling into Python
 *
 * Built by the test with -DNAMES_H=... pointing at a generated header that
 * defines FUNCTION_NAMES[104] in function-list order.  Prints key=value
 * lines; "FAIL ..." lines and a non-zero exit on any broken check.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pkcs11_types.h"
#include "pkcs11_constants.h"
#include NAMES_H

#define N_FUNCTIONS 104
#define N_V30 92
#define N_LEGACY 68

/* CK_FUNCTION_LIST*: a CK_VERSION then pointers, which the ABI aligns
   exactly like an array of pointers. */
typedef struct {
    CK_VERSION version;
    void *fn[N_FUNCTIONS];
} table_t;

typedef CK_RV (*ptr_fn)(void *);
typedef CK_RV (*handle_fn)(CK_SESSION_HANDLE);
typedef CK_RV (*info_fn)(CK_INFO *);
typedef CK_RV (*list_fn)(void **);
typedef CK_RV (*iface_list_fn)(CK_INTERFACE *, CK_ULONG *);
typedef CK_RV (*iface_fn)(CK_UTF8CHAR *, CK_VERSION *, CK_INTERFACE **,
                          CK_FLAGS);
typedef CK_RV (*msg_next_fn)(CK_SESSION_HANDLE, void *, CK_ULONG,
                             CK_BYTE *, CK_ULONG, CK_BYTE *, CK_ULONG);

typedef CK_RV (*async_id_fn)(CK_SESSION_HANDLE, CK_UTF8CHAR *, CK_ULONG *);

static int failures;
static table_t *t32;  /* the default interface: 3.2, all entries */
static table_t *t30;

#define CHECK(cond, what)                                               \
    do {                                                                \
        if (!(cond)) {                                                  \
            printf("FAIL %s (line %d)\n", what, __LINE__);              \
            failures++;                                                 \
        }                                                               \
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

static void print_info(const char *tag)
{
    CK_INFO info;
    CK_RV rv;

    memset(&info, 0, sizeof(info));
    rv = ((info_fn)fn("C_GetInfo"))(&info);
    printf("%s_rv=0x%lx\n", tag, rv);
    printf("%s_cryptoki=%d.%d\n", tag, info.cryptokiVersion.major,
           info.cryptokiVersion.minor);
    printf("%s_manufacturer=%.32s|\n", tag, info.manufacturerID);
    printf("%s_description=%.32s|\n", tag, info.libraryDescription);
}

static void check_interfaces(void *lib, void *list240)
{
    iface_list_fn get_list = (iface_list_fn)dlsym(lib, "C_GetInterfaceList");
    iface_fn get = (iface_fn)dlsym(lib, "C_GetInterface");
    CK_INTERFACE buf[4], *it = NULL;
    CK_ULONG count = 0;
    CK_VERSION v30 = {3, 0}, v240 = {2, 40}, v32 = {3, 2};

    CHECK(get_list(buf, NULL) == CKR_ARGUMENTS_BAD, "list NULL count");
    CK_VERSION v31 = {3, 1};

    CHECK(get_list(NULL, &count) == CKR_OK && count == 3, "list size");
    count = 2;
    CHECK(get_list(buf, &count) == CKR_BUFFER_TOO_SMALL && count == 3,
          "list too small");
    count = 4;
    CHECK(get_list(buf, &count) == CKR_OK && count == 3, "list full");
    CHECK(strcmp((char *)buf[0].pInterfaceName, "PKCS 11") == 0 &&
          strcmp((char *)buf[1].pInterfaceName, "PKCS 11") == 0 &&
          ((CK_VERSION *)buf[0].pFunctionList)->major == 3 &&
          ((CK_VERSION *)buf[0].pFunctionList)->minor == 2 &&
          ((CK_VERSION *)buf[1].pFunctionList)->major == 3 &&
          ((CK_VERSION *)buf[1].pFunctionList)->minor == 0 &&
          ((CK_VERSION *)buf[2].pFunctionList)->major == 2 &&
          ((CK_VERSION *)buf[2].pFunctionList)->minor == 40 &&
          buf[0].flags == 0 && buf[1].flags == 0 && buf[2].flags == 0,
          "list content");
    CHECK(buf[0].pFunctionList == t32, "3.2 entry is the default");
    CHECK(buf[2].pFunctionList == list240, "2.40 entry is C_GetFunctionList");

    CHECK(get(NULL, NULL, &it, 0) == CKR_OK && it->pFunctionList == t32,
          "default interface is 3.2");
    CHECK(get(NULL, &v240, &it, 0) == CKR_OK &&
          it->pFunctionList == list240, "default name, 2.40");
    CHECK(get(NULL, &v32, &it, 0) == CKR_OK && it->pFunctionList == t32,
          "default name, 3.2");
    CHECK(get((CK_UTF8CHAR *)"PKCS 11", NULL, &it, 0) == CKR_OK &&
          it->pFunctionList == t32, "named, any version -> 3.2");
    CHECK(get((CK_UTF8CHAR *)"PKCS 11", &v30, &it, 0) == CKR_OK &&
          it->pFunctionList == buf[1].pFunctionList, "3.0");
    t30 = (table_t *)buf[1].pFunctionList;
    CHECK(get((CK_UTF8CHAR *)"PKCS 11", &v240, &it, 0) == CKR_OK &&
          it->pFunctionList == list240, "2.40");
    CHECK(get((CK_UTF8CHAR *)"PKCS 11", &v32, &it, 0) == CKR_OK &&
          it->pFunctionList == t32, "3.2");
    CHECK(get((CK_UTF8CHAR *)"PKCS 11", &v31, &it, 0) == CKR_ARGUMENTS_BAD,
          "3.1 not claimed");
    CHECK(get((CK_UTF8CHAR *)"Vendor X", NULL, &it, 0) == CKR_ARGUMENTS_BAD,
          "unknown name");
    CHECK(get(NULL, NULL, &it, CKF_INTERFACE_FORK_SAFE) == CKR_ARGUMENTS_BAD,
          "unsupported flag");
    CHECK(get(NULL, NULL, NULL, 0) == CKR_ARGUMENTS_BAD, "NULL ppInterface");
    printf("interfaces=checked\n");
}

static void check_tables(void *lib, table_t *t240)
{
    int i, missing = 0, mismatched = 0;

    CHECK(t240->version.major == 2 && t240->version.minor == 40,
          "2.40 version");
    CHECK(t30 != NULL && t30->version.major == 3 &&
          t30->version.minor == 0, "3.0 version");
    CHECK(t32->version.major == 3 && t32->version.minor == 2, "3.2 version");
    for (i = 0; i < N_FUNCTIONS; i++) {
        void *sym = dlsym(lib, FUNCTION_NAMES[i]);

        if (t32->fn[i] == NULL)
            missing++;
        if (t32->fn[i] != sym ||
            (i < N_V30 && t30 != NULL && t30->fn[i] != t32->fn[i]) ||
            (i < N_LEGACY && t240->fn[i] != t32->fn[i])) {
            printf("FAIL entry %d %s\n", i, FUNCTION_NAMES[i]);
            mismatched++;
        }
    }
    CHECK(missing == 0 && mismatched == 0, "function tables");
    printf("table_entries=%d\n", N_FUNCTIONS - missing);
}

static void check_unimplemented(void)
{
    CK_ULONG len = 0;
    CK_RV rv;

    rv = ((handle_fn)fn("C_MessageEncryptFinal"))(1);
    printf("message_encrypt_final_rv=0x%lx\n", rv);
    rv = ((msg_next_fn)fn("C_VerifyMessageNext"))(1, NULL, 0, NULL, 0,
                                                 NULL, 0);
    printf("verify_message_next_rv=0x%lx\n", rv);
    /* 3.2 entries nobody implements are stubbed the same way. */
    rv = ((handle_fn)fn("C_VerifySignatureFinal"))(1);
    printf("verify_signature_final_rv=0x%lx\n", rv);
    rv = ((async_id_fn)fn("C_AsyncGetID"))(1, (CK_UTF8CHAR *)"C_Sign", &len);
    printf("async_get_id_rv=0x%lx\n", rv);
}

static int run_info(void *lib)
{
    list_fn get_list = (list_fn)dlsym(lib, "C_GetFunctionList");
    iface_fn get = (iface_fn)dlsym(lib, "C_GetInterface");
    CK_INTERFACE *it = NULL;
    table_t *t240 = NULL;

    CHECK(get_list(NULL) == CKR_ARGUMENTS_BAD, "C_GetFunctionList(NULL)");
    CHECK(get_list((void **)&t240) == CKR_OK && t240 != NULL,
          "C_GetFunctionList");
    CHECK(get(NULL, NULL, &it, 0) == CKR_OK, "C_GetInterface");
    t32 = (table_t *)it->pFunctionList;

    /* Before C_Initialize: Python is not started, every call refused. */
    printf("preinit_getinfo_rv=0x%lx\n",
           ((info_fn)fn("C_GetInfo"))(&(CK_INFO){0}));
    printf("preinit_finalize_rv=0x%lx\n", ((ptr_fn)fn("C_Finalize"))(NULL));
    check_interfaces(lib, t240);
    check_tables(lib, t240);

    printf("init1_rv=0x%lx\n", ((ptr_fn)fn("C_Initialize"))(NULL));
    printf("init_again_rv=0x%lx\n", ((ptr_fn)fn("C_Initialize"))(NULL));
    print_info("info1");
    check_unimplemented();
    printf("finalize1_rv=0x%lx\n", ((ptr_fn)fn("C_Finalize"))(NULL));
    printf("after_finalize_getinfo_rv=0x%lx\n",
           ((info_fn)fn("C_GetInfo"))(&(CK_INFO){0}));
    printf("init2_rv=0x%lx\n", ((ptr_fn)fn("C_Initialize"))(NULL));
    print_info("info2");
    printf("finalize2_rv=0x%lx\n", ((ptr_fn)fn("C_Finalize"))(NULL));
    return failures ? 1 : 0;
}

static volatile int stop_busy;

static void *busy(void *arg)
{
    CK_INFO info;

    (void)arg;
    while (!stop_busy)
        ((info_fn)fn("C_GetInfo"))(&info);
    return NULL;
}

static int run_fork(void *lib)
{
    iface_fn get = (iface_fn)dlsym(lib, "C_GetInterface");
    CK_INTERFACE *it = NULL;
    pthread_t thread;
    int i, ok = 0, hung = 0, bad = 0;

    if (get(NULL, NULL, &it, 0) != CKR_OK)
        return 1;
    t32 = (table_t *)it->pFunctionList;
    printf("init_rv=0x%lx\n", ((ptr_fn)fn("C_Initialize"))(NULL));
    pthread_create(&thread, NULL, busy, NULL);
    for (i = 0; i < 20; i++) {
        pid_t pid = fork();
        int status = 0;

        if (pid == 0) {
            CK_INFO info;

            alarm(10);
            /* Spec 5.4 / issue 8: a child inherits no initialised module;
             * it must call C_Initialize itself and then works. */
            if (((info_fn)fn("C_GetInfo"))(&info) !=
                CKR_CRYPTOKI_NOT_INITIALIZED)
                _exit(4);
            if (((ptr_fn)fn("C_Initialize"))(NULL) != CKR_OK)
                _exit(5);
            _exit(((info_fn)fn("C_GetInfo"))(&info) == CKR_OK ? 0 : 3);
        }
        waitpid(pid, &status, 0);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
            ok++;
        else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
            hung++;
        else
            bad++;
    }
    stop_busy = 1;
    pthread_join(thread, NULL);
    printf("children_ok=%d\nchildren_hung=%d\nchildren_bad=%d\n", ok, hung,
           bad);
    print_info("parent");
    return ok == 20 ? 0 : 1;
}

int main(int argc, char **argv)
{
    void *lib;

    if (argc != 3) {
        fprintf(stderr, "usage: %s LIB info|fork\n", argv[0]);
        return 2;
    }
    alarm(120);
    /* Another PKCS#11 module loaded first and globally, as p11-kit or an
       OpenSSL provider may: its C_* names then come first in symbol
       lookup, and ours must still boot and answer as itself. */
    if (getenv("HOST_PRELOAD") != NULL &&
        dlopen(getenv("HOST_PRELOAD"), RTLD_NOW | RTLD_GLOBAL) == NULL) {
        fprintf(stderr, "dlopen %s: %s\n", getenv("HOST_PRELOAD"),
                dlerror());
        return 2;
    }
    lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 2;
    }
    if (strcmp(argv[2], "fork") == 0)
        return run_fork(lib);
    return run_info(lib);
}
