/*
 * tests/mpi_san.h - for a test that calls MPI_Init, under the sanitizers:
 * Open MPI's own allocations (MPI_Init's plugins, unloaded at MPI_Finalize)
 * are not leaks of the engine; full stacks let the suppressions match them by
 * library while the engine's own allocations stay checked. Include it once,
 * in the test's .c file (it defines the sanitizers' hooks).
 */
#ifndef TESTS_MPI_SAN_H
#define TESTS_MPI_SAN_H

#if GS_MPI
const char *__asan_default_options(void);
const char *__lsan_default_suppressions(void);
const char *__asan_default_options(void) { return "fast_unwind_on_malloc=0"; }
const char *__lsan_default_suppressions(void) {
    return "leak:libmpi.so\nleak:libopen-pal.so\nleak:libopen-rte.so\nleak:libhwloc.so\nleak:libevent\nleak:libpmix\n";
}
#endif

#endif
