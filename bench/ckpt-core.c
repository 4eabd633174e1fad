/* ckpt-core: one save and one restore of a partition with libhvcore, timed, for
 * bench/checkpoint-bench.sh.
 *   ckpt-core -m MIB [-f] [-c CPUS] GUEST STATEFILE
 * Boots GUEST (hvguest, counting), optionally fills all guest memory above 32 MiB from the
 * host with incompressible bytes (-f: the worst case, every page written), pauses, saves to
 * STATEFILE (fsync included), frees it; then builds a new partition, restores it and runs it.
 * Prints one line: "save_ms=S restore_ms=R running_ms=U first_line_ms=L file_mib=F", where
 * restore_ms is hv_partition_restore (header, state, memory mapping), running_ms adds
 * starting the vCPU threads (the guest runs), first_line_ms waits for the guest's next
 * counter line (up to its 100 ms tick). Exit 0, 1 on failure, 77 without /dev/kvm. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hvcore/hvcore.h"

struct run {
	struct hv_partition *p;
	pthread_t t;
	pthread_mutex_t lock;
	unsigned lines;
	struct hv_stop_info why;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void on_console(void *opaque, const void *buf, size_t len)
{
	struct run *r = opaque;
	const char *b = buf;
	size_t i;

	pthread_mutex_lock(&r->lock);
	for (i = 0; i < len; i++)
		r->lines += b[i] == '\n';
	pthread_mutex_unlock(&r->lock);
}

static unsigned lines(struct run *r)
{
	unsigned n;

	pthread_mutex_lock(&r->lock);
	n = r->lines;
	pthread_mutex_unlock(&r->lock);
	return n;
}

static void *run_main(void *arg)
{
	struct run *r = arg;

	if (hv_partition_run(r->p, &r->why))
		r->why.reason = HV_STOP_HOST_ERROR;
	return NULL;
}

static int wait_lines(struct run *r, unsigned n)
{
	int i;

	for (i = 0; i < 60000 && lines(r) < n; i++)
		usleep(1000);
	return lines(r) >= n ? 0 : -1;
}

static void fill(struct hv_partition *p, uint64_t mem)
{
	uint64_t x = 0x9e3779b97f4a7c15ull, gpa;

	for (gpa = 32ull << 20; gpa + 4096 <= mem && gpa + 4096 <= 0xc0000000ull; gpa += 4096) {
		uint64_t *q = hv_partition_gpa(p, gpa, 4096);
		size_t i;

		for (i = 0; q && i < 512; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			q[i] = x;
		}
	}
}

int main(int argc, char **argv)
{
	struct hv_partition_config cfg = { .vcpus = 1, .mem_bytes = 256ull << 20, .console = on_console };
	struct run a, b;
	double t0, t1, t2, t3, t4, t5;
	char err[256];
	struct stat sb;
	int opt, fd, full = 0;

	while ((opt = getopt(argc, argv, "m:c:f")) != -1) {
		switch (opt) {
		case 'm': cfg.mem_bytes = strtoull(optarg, NULL, 10) << 20; break;
		case 'c': cfg.vcpus = (unsigned)atoi(optarg); break;
		case 'f': full = 1; break;
		default: return 2;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "usage: ckpt-core -m MIB [-f] [-c CPUS] GUEST STATEFILE\n");
		return 2;
	}
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	pthread_mutex_init(&a.lock, NULL);
	pthread_mutex_init(&b.lock, NULL);
	cfg.console_opaque = &a;
	if (hv_partition_new(&cfg, &a.p)) {
		fprintf(stderr, "ckpt-core: cannot create a partition (KVM)\n");
		return 77;
	}
	if (hv_partition_load_kernel_file(a.p, argv[optind], NULL, "hvguest.counter=1") ||
	    pthread_create(&a.t, NULL, run_main, &a) || wait_lines(&a, 3))
		return 1;
	if (full)
		fill(a.p, cfg.mem_bytes);
	fd = open(argv[optind + 1], O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || hv_partition_pause(a.p))
		return 1;
	t0 = now_ms();
	if (hv_partition_save(a.p, fd) || fsync(fd))
		return 1;
	t1 = now_ms();
	fstat(fd, &sb);
	close(fd);
	(void)hv_partition_stop(a.p);
	pthread_join(a.t, NULL);
	hv_partition_free(a.p);

	cfg.console_opaque = &b;
	fd = open(argv[optind + 1], O_RDONLY | O_CLOEXEC);
	if (fd < 0 || hv_partition_new(&cfg, &b.p))
		return 1;
	t2 = now_ms();
	if (hv_partition_restore(b.p, fd, 0, err, sizeof(err))) {
		fprintf(stderr, "ckpt-core: restore: %s\n", err);
		return 1;
	}
	t3 = now_ms();
	close(fd);
	if (pthread_create(&b.t, NULL, run_main, &b))
		return 1;
	t4 = now_ms();
	if (wait_lines(&b, 1))
		return 1;
	t5 = now_ms();
	(void)hv_partition_stop(b.p);
	pthread_join(b.t, NULL);
	hv_partition_free(b.p);
	printf("save_ms=%.2f restore_ms=%.3f running_ms=%.3f first_line_ms=%.1f file_mib=%.1f\n", t1 - t0, t3 - t2,
	       t4 - t2, t5 - t2, (double)sb.st_blocks * 512 / 1048576.0);
	return 0;
}
