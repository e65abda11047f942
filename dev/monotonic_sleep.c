/*
 * Preloaded in front of libfaketime by `make test-clock`: sleeps on the monotonic clock go to the
 * kernel untouched.
 *
 * `make test-clock` moves the wall clock and leaves the monotonic clock real (asyncio and every
 * timeout measure on it). libfaketime 0.9.10, Debian 12's, still shifts the absolute deadline of
 * clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME) by the fake offset, so the kernel sees a
 * negative time and every time.sleep of Python 3.11+ fails with EINVAL (wolfcw/libfaketime#426,
 * fixed in 0.9.11). With a fixed libfaketime this preload changes nothing.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int clock_nanosleep(clockid_t clock_id, int flags, const struct timespec *req, struct timespec *rem)
{
    static int (*next)(clockid_t, int, const struct timespec *, struct timespec *);

    if (clock_id == CLOCK_MONOTONIC) {
        /* clock_nanosleep returns the error number, where the raw call sets errno */
        return syscall(SYS_clock_nanosleep, clock_id, flags, req, rem) == 0 ? 0 : errno;
    }
    if (next == NULL) {
        next = (int (*)(clockid_t, int, const struct timespec *, struct timespec *))dlsym(
            RTLD_NEXT, "clock_nanosleep");
    }
    return next(clock_id, flags, req, rem);
}
