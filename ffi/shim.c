/* Hand-written part of libcraton_hsm.so, pasted by ffi/build_hsm.py into
 * the cffi preamble after the generated function tables.  Python.h is
 * already included by cffi (full API: embedding mode never uses
 * Py_LIMITED_API).  Facts behind the boot: shared/notes/embedding.md.
 */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CRATON_LOG(...) fprintf(stderr, "craton-hsm: " __VA_ARGS__)

/* Set (release) once Python and our cffi module are up; read (acquire) on
   every call.  It never goes back to 0: C_Finalize is Python's business. */
static int craton_ready;
/* Set when C_Initialize succeeded in THIS process, cleared by C_Finalize
   and in a forked child (PKCS#11 v3.0 section 5.4: a child must call
   C_Initialize itself; until then every function is
   CKR_CRYPTOKI_NOT_INITIALIZED).  Checked in C by every forwarder, before
   any argument is read, so a child that did not initialise gets that code
   from every function whatever pointers it passes. */
static int craton_live;
static pthread_mutex_t craton_boot_lock = PTHREAD_MUTEX_INITIALIZER;
static PyGILState_STATE craton_fork_gil;

static int craton_is_ready(void)
{
    return __atomic_load_n(&craton_ready, __ATOMIC_ACQUIRE);
}

static int craton_is_live(void)
{
    return __atomic_load_n(&craton_live, __ATOMIC_ACQUIRE);
}

static void craton_set_live(int live)
{
    __atomic_store_n(&craton_live, live, __ATOMIC_RELEASE);
}

/* Registered in every host (also Python hosts, whose os.fork() runs
   pthread_atfork handlers too). */
static void craton_child_not_initialized(void)
{
    craton_set_live(0);
}

/* ---- Interfaces (PKCS#11 v3.0 section 5.4.2) ------------------------- */

static CK_INTERFACE craton_interfaces[] = {
    {(CK_CHAR *)"PKCS 11", &craton_list_3_2, 0},
    {(CK_CHAR *)"PKCS 11", &craton_list_3_0, 0},
    {(CK_CHAR *)"PKCS 11", &craton_list_2_40, 0},
};
#define CRATON_N_INTERFACES \
    (sizeof(craton_interfaces) / sizeof(craton_interfaces[0]))

CK_RV C_GetFunctionList(void **ppFunctionList)
{
    if (ppFunctionList == NULL)
        return CKR_ARGUMENTS_BAD;
    *ppFunctionList = &craton_list_2_40;
    return CKR_OK;
}

CK_RV C_GetInterfaceList(CK_INTERFACE *pInterfacesList, CK_ULONG *pulCount)
{
    CK_ULONG i;

    if (pulCount == NULL)
        return CKR_ARGUMENTS_BAD;
    if (pInterfacesList == NULL) {
        *pulCount = CRATON_N_INTERFACES;
        return CKR_OK;
    }
    if (*pulCount < CRATON_N_INTERFACES) {
        *pulCount = CRATON_N_INTERFACES;
        return CKR_BUFFER_TOO_SMALL;
    }
    for (i = 0; i < CRATON_N_INTERFACES; i++)
        pInterfacesList[i] = craton_interfaces[i];
    *pulCount = CRATON_N_INTERFACES;
    return CKR_OK;
}

CK_RV C_GetInterface(CK_UTF8CHAR *pInterfaceName, CK_VERSION *pVersion,
                     CK_INTERFACE **ppInterface, CK_FLAGS flags)
{
    size_t i;

    if (ppInterface == NULL)
        return CKR_ARGUMENTS_BAD;
    /* None of our interfaces has a flag (e.g. CKF_INTERFACE_FORK_SAFE),
       so any requested flag cannot be satisfied. */
    if (flags != 0)
        return CKR_ARGUMENTS_BAD;
    /* A NULL name matches every interface, so NULL/NULL yields the first
       (default, newest: 3.2) entry and NULL/{2,40} the legacy one. */
    for (i = 0; i < CRATON_N_INTERFACES; i++) {
        CK_INTERFACE *it = &craton_interfaces[i];
        CK_VERSION *have = (CK_VERSION *)it->pFunctionList;

        if (pInterfaceName != NULL &&
            strcmp((const char *)pInterfaceName,
                   (const char *)it->pInterfaceName) != 0)
            continue;
        /* Never claim a version whose whole function list we lack
           (python-pkcs11 asks for 3.2 and trusts CKR_OK): every 3.2
           table entry is present, unimplemented ones answer
           CKR_FUNCTION_NOT_SUPPORTED. */
        if (pVersion != NULL && (pVersion->major != have->major ||
                                 pVersion->minor != have->minor))
            continue;
        *ppInterface = it;
        return CKR_OK;
    }
    return CKR_ARGUMENTS_BAD;
}

/* ---- Boot ------------------------------------------------------------ */

/* The file this library was loaded from, as the loader names it (boot.py
   resolves it), or NULL: what the integrity self-test measures.  Asked
   about this static function, never about an exported C_* name: a host
   that loaded another PKCS#11 module first (an OpenSSL provider, p11-kit)
   may have that module's C_GetFunctionList interpose ours. */
static const char *craton_module_path(void)
{
    Dl_info info;

    if (dladdr((void *)&craton_module_path, &info) && info.dli_fname &&
        info.dli_fname[0] != '\0')
        return info.dli_fname;
    return NULL;
}

/* The venv whose bin/python3 and site-packages the interpreter uses:
   $CRATON_HSM_VENV, else <dir of our real path>/../.venv, else the path
   fixed at build time. */
static int craton_find_venv(char *out, size_t size)
{
    const char *env = getenv("CRATON_HSM_VENV");
    const char *me = craton_module_path();
    char self[PATH_MAX], probe[PATH_MAX + 32];
    char *slash;

    if (env != NULL && env[0] != '\0')
        return snprintf(out, size, "%s", env) < (int)size ? 0 : -1;
    if (me != NULL && realpath(me, self) != NULL &&
        (slash = strrchr(self, '/')) != NULL) {
        *slash = '\0';
        snprintf(probe, sizeof(probe), "%s/../.venv/pyvenv.cfg", self);
        if (access(probe, R_OK) == 0) {
            probe[strlen(probe) - strlen("/pyvenv.cfg")] = '\0';
            if (realpath(probe, out) != NULL)
                return 0;
        }
    }
    return snprintf(out, size, "%s", CRATON_VENV_FALLBACK) < (int)size
        ? 0 : -1;
}

static CK_RV craton_check_version(void)
{
    int major = 0, minor = 0;

    if (sscanf(Py_GetVersion(), "%d.%d", &major, &minor) != 2 ||
        major != PY_MAJOR_VERSION || minor != PY_MINOR_VERSION) {
        CRATON_LOG("built for Python %d.%d but this process runs Python "
                   "%s\n", PY_MAJOR_VERSION, PY_MINOR_VERSION,
                   Py_GetVersion());
        return CKR_GENERAL_ERROR;
    }
    return CKR_OK;
}

/* Hosts dlopen() us RTLD_LOCAL; extension modules then cannot resolve
   Py* symbols unless libpython is made global. */
static void craton_promote_libpython(void)
{
    Dl_info info;

    if (!dladdr((void *)&Py_GetVersion, &info) || info.dli_fname == NULL) {
        CRATON_LOG("cannot locate libpython (dladdr failed)\n");
        return;
    }
    if (dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL) == NULL)
        CRATON_LOG("cannot make %s global: %s\n", info.dli_fname,
                   dlerror());
}

static void craton_fork_prepare(void)
{
    craton_fork_gil = PyGILState_Ensure();
    PyOS_BeforeFork();
}

static void craton_fork_parent(void)
{
    PyOS_AfterFork_Parent();
    PyGILState_Release(craton_fork_gil);
}

static void craton_fork_child(void)
{
    PyOS_AfterFork_Child();
    PyGILState_Release(craton_fork_gil);
}

static CK_RV craton_start_interpreter(const char *venv)
{
    char exe[PATH_MAX + 32];
    PyConfig config;
    PyStatus status;

    snprintf(exe, sizeof(exe), "%s/bin/python3", venv);
    /* Isolated: PYTHONHOME/PYTHONPATH and the user site are ignored and
       no signal handler of the host is replaced.  `executable` makes
       Python read <venv>/pyvenv.cfg and use the venv's site-packages. */
    PyConfig_InitIsolatedConfig(&config);
    config.install_signal_handlers = 0;
    status = PyConfig_SetBytesString(&config, &config.executable, exe);
    if (!PyStatus_Exception(status))
        status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        CRATON_LOG("cannot start Python with %s: %s\n", exe,
                   status.err_msg ? status.err_msg : "unknown error");
        return CKR_GENERAL_ERROR;
    }
    PyEval_SaveThread();
    /* Without these a fork while another thread is inside Python leaves
       the child with a GIL nobody will release. */
    if (pthread_atfork(craton_fork_prepare, craton_fork_parent,
                       craton_fork_child) != 0)
        CRATON_LOG("pthread_atfork failed; fork() while busy may hang\n");
    return CKR_OK;
}

/* A host interpreter (python-pkcs11, PyKCS11) keeps its own sys.path;
   add ours after it so .pth files (editable installs) are honoured. */
static CK_RV craton_join_interpreter(const char *venv)
{
    char dir[PATH_MAX + 64];
    PyGILState_STATE gil;
    PyObject *site, *res = NULL;
    CK_RV rv = CKR_GENERAL_ERROR;

    snprintf(dir, sizeof(dir), "%s/lib/python%d.%d/site-packages", venv,
             PY_MAJOR_VERSION, PY_MINOR_VERSION);
    gil = PyGILState_Ensure();
    site = PyImport_ImportModule("site");
    if (site != NULL)
        res = PyObject_CallMethod(site, "addsitedir", "s", dir);
    if (res != NULL)
        rv = CKR_OK;
    else {
        CRATON_LOG("site.addsitedir(%s) failed\n", dir);
        PyErr_Print();
    }
    Py_XDECREF(res);
    Py_XDECREF(site);
    PyGILState_Release(gil);
    return rv;
}

static CK_RV craton_boot_locked(void)
{
    char venv[PATH_MAX];
    CK_RV rv;

    if (craton_is_ready())
        return CKR_OK;
    rv = craton_check_version();
    if (rv != CKR_OK)
        return rv;
    craton_promote_libpython();
    if (craton_find_venv(venv, sizeof(venv)) != 0) {
        CRATON_LOG("virtualenv path too long\n");
        return CKR_GENERAL_ERROR;
    }
    if (!Py_IsInitialized())
        rv = craton_start_interpreter(venv);
    else
        rv = craton_join_interpreter(venv);
    if (rv != CKR_OK)
        return rv;
    if (cffi_start_python() != 0) {
        CRATON_LOG("Python start-up failed (venv %s); see above\n", venv);
        return CKR_GENERAL_ERROR;
    }
    if (pthread_atfork(NULL, NULL, craton_child_not_initialized) != 0) {
        CRATON_LOG("pthread_atfork failed\n");
        return CKR_GENERAL_ERROR;
    }
    __atomic_store_n(&craton_ready, 1, __ATOMIC_RELEASE);
    return CKR_OK;
}

CK_RV C_Initialize(void *pInitArgs)
{
    CK_RV rv = CKR_OK;

    if (!craton_is_ready()) {
        pthread_mutex_lock(&craton_boot_lock);
        rv = craton_boot_locked();
        pthread_mutex_unlock(&craton_boot_lock);
    }
    if (rv != CKR_OK)
        return rv;
    rv = py_C_Initialize(pInitArgs);
    if (rv == CKR_OK)
        craton_set_live(1);
    return rv;
}

/* ---- C_GetInfo: answered from C after the first call ----------------- */

/* CK_INFO (PKCS#11 v3.0 section 5.4) describes the library: nothing in it
   changes while the module is initialised.  The first call in each
   initialisation asks Python (which owns the data and its checks); the
   answer is kept and later calls copy it without entering the
   interpreter (issue 9: >= 1,000,000 calls/s).  Only a CKR_OK answer is
   kept, so a failing Python side (e.g. CRATON_HSM_TEST_RAISE=C_GetInfo)
   keeps answering through Python. */
static CK_INFO craton_info;
static int craton_info_kept;
static pthread_mutex_t craton_info_lock = PTHREAD_MUTEX_INITIALIZER;

CK_RV C_GetInfo(CK_INFO *pInfo)
{
    CK_RV rv;

    if (!craton_is_live())
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    if (pInfo != NULL && __atomic_load_n(&craton_info_kept,
                                         __ATOMIC_ACQUIRE)) {
        *pInfo = craton_info;
        return CKR_OK;
    }
    rv = py_C_GetInfo(pInfo);
    if (rv == CKR_OK && pInfo != NULL) {
        pthread_mutex_lock(&craton_info_lock);
        if (!__atomic_load_n(&craton_info_kept, __ATOMIC_ACQUIRE)) {
            craton_info = *pInfo;
            __atomic_store_n(&craton_info_kept, 1, __ATOMIC_RELEASE);
        }
        pthread_mutex_unlock(&craton_info_lock);
    }
    return rv;
}

CK_RV C_Finalize(void *pReserved)
{
    CK_RV rv;

    if (!craton_is_live())
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    rv = py_C_Finalize(pReserved);
    if (rv == CKR_OK) {
        craton_set_live(0);
        __atomic_store_n(&craton_info_kept, 0, __ATOMIC_RELEASE);
    }
    return rv;
}

