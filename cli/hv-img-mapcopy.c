/*
 * convert's second copying thread, for destinations on tmpfs.
 *
 * On tmpfs most of a copy's time goes to allocating the destination's pages, and write() (or
 * splice, or fallocate) allocates them under the file's inode lock: a second thread writing
 * to the same file, or fallocating ahead of the writer, only waits for that lock (measured:
 * no faster).  Page faults do not take it.  So this thread copies whole jobs into a mapping
 * of the destination while the caller splices others: MADV_POPULATE_WRITE allocates the
 * pages, then pread() fills them.  Both threads claim jobs from one counter, so neither
 * waits for the other; the splice path is cheaper per byte and takes most of them
 * (2 GiB half data, tmpfs to tmpfs, 2 cores: this thread took about a third).
 *
 * Nothing here can raise SIGBUS: MADV_POPULATE_WRITE returns an error where a fault would
 * (a full tmpfs, a file shrunk under us), and a fault inside pread() makes it fail with
 * EFAULT.  A job that fails is marked for the caller to redo its usual way, which also
 * reports the real error; the thread then stops taking jobs.  Jobs that do not cover whole
 * pages are marked too and left to the caller.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli/hv-img.h"

#ifdef MADV_POPULATE_WRITE

/* Whole pages only: a page shared with another job is left to the writer. */
static bool can_map(const struct img_job *j, long page)
{
	return j->out_off % (uint64_t)page == 0 && j->len % (uint64_t)page == 0 &&
	       j->len <= SIZE_MAX;
}

static bool copy_mapped(const struct img_job *j)
{
	uint8_t *m = mmap(NULL, (size_t)j->len, PROT_READ | PROT_WRITE, MAP_SHARED, j->out,
			  (off_t)j->out_off);
	if (m == MAP_FAILED)
		return false; /* e.g. an output opened write-only */
	bool ok = madvise(m, (size_t)j->len, MADV_POPULATE_WRITE) == 0;
	for (size_t got = 0; ok && got < j->len;) {
		ssize_t n = pread(j->in, m + got, (size_t)j->len - got, (off_t)(j->in_off + got));
		if (n < 0 && errno == EINTR)
			continue;
		ok = n > 0;
		got += ok ? (size_t)n : 0;
	}
	munmap(m, (size_t)j->len);
	return ok;
}

static void *run(void *opaque)
{
	struct img_mapcopy *c = opaque;
	long page = sysconf(_SC_PAGESIZE);

	for (;;) {
		size_t i = atomic_fetch_add(c->next, 1);
		if (i >= c->n)
			break;
		if (!can_map(&c->jobs[i], page)) {
			c->jobs[i].redo = true;
		} else if (!copy_mapped(&c->jobs[i])) {
			c->jobs[i].redo = true;
			c->failed = true;
			break;
		}
	}
	return NULL;
}

/*
 * Is a CPU idle now?  This thread spends about twice the CPU time of the splice path on a
 * byte (page faults, zeroing, unmapping; and the two threads contend for the LRU lock): it
 * shortens a copy only on a CPU that nothing else wants.  2 GiB half data, 2 CPUs, medians:
 * 0.42 s against 0.57 s (raw -> vhdx) and 0.37 s against 0.51 s (vhdx -> raw) when the
 * machine was otherwise quiet, but up to 25% slower than one thread when both CPUs were
 * busy.  The count of runnable tasks in /proc/loadavg includes the caller.
 */
static bool cpu_idle(void)
{
	char s[128];
	long running = LONG_MAX;
	int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, s, sizeof(s) - 1) : -1;

	if (fd >= 0)
		close(fd);
	if (n > 0) {
		s[n] = 0;
		if (sscanf(s, "%*s %*s %*s %ld/", &running) != 1)
			running = LONG_MAX;
	}
	return running < sysconf(_SC_NPROCESSORS_ONLN);
}

bool img_mapcopy_start(struct img_mapcopy *c, struct img_job *jobs, size_t n,
		       atomic_size_t *next, bool always)
{
	c->running = false;
	c->failed = false;
	if (!always && !cpu_idle())
		return false;
	c->jobs = jobs;
	c->n = n;
	c->next = next;
	c->running = pthread_create(&c->thread, NULL, run, c) == 0;
	return c->running;
}

#else /* headers older than Linux 5.14: no second thread */

bool img_mapcopy_start(struct img_mapcopy *c, struct img_job *jobs, size_t n,
		       atomic_size_t *next, bool always)
{
	(void)jobs, (void)n, (void)next, (void)always;
	c->running = false;
	c->failed = true;
	return false;
}

#endif

bool img_mapcopy_join(struct img_mapcopy *c)
{
	if (c->running)
		pthread_join(c->thread, NULL);
	c->running = false;
	return !c->failed;
}
