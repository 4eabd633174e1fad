/* bench/balloon-bench.sh's engine: one hvguest partition with dynamic memory (Maximum
 * 1 GiB), which first touches 600 MiB and frees it (an idle guest whose free memory is
 * dirty, as after a workload), then ROUNDS times: the host reclaims 512 MiB (target
 * lowered, timed until the balloon holds it) and gives it back (timed likewise). Prints one
 * line per round and the medians; resident memory from /proc around the first reclaim. */
#include "config.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hvcore/hvcore.h"

#define MIB (1ULL << 20)
#define MAX_ROUNDS 64

static char out[8192];
static size_t out_len;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static void on_console(void *opaque, const void *buf, size_t len)
{
	(void)opaque;
	pthread_mutex_lock(&out_lock);
	if (len > sizeof(out) - 1 - out_len)
		len = sizeof(out) - 1 - out_len;
	memcpy(out + out_len, buf, len);
	out_len += len;
	out[out_len] = 0;
	pthread_mutex_unlock(&out_lock);
}

static int seen(const char *s)
{
	int r;

	pthread_mutex_lock(&out_lock);
	r = strstr(out, s) != NULL;
	pthread_mutex_unlock(&out_lock);
	return r;
}

static void *run(void *arg)
{
	struct hv_stop_info info;

	if (hv_partition_run(arg, &info) != 0)
		fprintf(stderr, "balloon-core: the run did not start\n");
	return NULL;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static uint64_t rss_mib(void)
{
	char line[256];
	unsigned long long kb = 0;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %llu kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb / 1024;
}

/* Milliseconds until the balloon holds want (within 2 MiB) and is idle; -1 after 60 s. */
static double reach(struct hv_partition *p, uint64_t want)
{
	struct hv_balloon_status st;
	double t0 = now_ms();

	if (hv_partition_balloon_target(p, want) != 0)
		return -1;
	while (now_ms() - t0 < 60000) {
		if (hv_partition_balloon_status(p, &st) == 0 && !st.busy &&
		    st.assigned_bytes + 2 * MIB >= want && st.assigned_bytes <= want + 2 * MIB)
			return now_ms() - t0;
		usleep(200);
	}
	return -1;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	struct hv_partition_config cfg = { .vcpus = 1, .mem_bytes = 1024 * MIB, .dynamic_memory = 1,
					   .console = on_console };
	double up[MAX_ROUNDS], down[MAX_ROUNDS];
	struct hv_partition *p;
	struct stat sb;
	uint8_t *img;
	pthread_t t;
	int fd, i, rounds = argc > 2 ? atoi(argv[2]) : 5;
	uint64_t rss0 = 0, rss1 = 0;

	if (argc < 2 || rounds < 1 || rounds > MAX_ROUNDS) {
		fprintf(stderr, "usage: balloon-core HVGUEST [ROUNDS]\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY);
	if (fd < 0 || fstat(fd, &sb) < 0 || !(img = malloc((size_t)sb.st_size)) ||
	    read(fd, img, (size_t)sb.st_size) != sb.st_size)
		return 1;
	close(fd);
	if (hv_partition_new(&cfg, &p) != 0 || hv_partition_balloon_target(p, 1024 * MIB) != 0 ||
	    hv_partition_load_kernel(p, img, (size_t)sb.st_size, NULL, 0, "hvguest.memload=600M,1") != 0 ||
	    pthread_create(&t, NULL, run, p) != 0) {
		fprintf(stderr, "balloon-core: cannot start the partition\n");
		return 1;
	}
	for (i = 0; i < 60000 && !seen("hvguest: memload done"); i++)
		usleep(1000);
	if (!seen("hvguest: memload done")) {
		fprintf(stderr, "balloon-core: the guest did not finish its load:\n%s", out);
		return 1;
	}
	sleep(1);
	for (i = 0; i < rounds; i++) {
		if (i == 0)
			rss0 = rss_mib();
		up[i] = reach(p, 512 * MIB);
		if (i == 0)
			rss1 = rss_mib();
		down[i] = reach(p, 1024 * MIB);
		printf("round %d: reclaim 512 MiB %.1f ms, give back %.1f ms\n", i + 1, up[i], down[i]);
		if (up[i] < 0 || down[i] < 0)
			return 1;
	}
	qsort(up, (size_t)rounds, sizeof(up[0]), cmp);
	qsort(down, (size_t)rounds, sizeof(down[0]), cmp);
	printf("reclaim_512MiB_ms_median %.1f\ngive_back_512MiB_ms_median %.1f\n"
	       "rss_before_first_reclaim_MiB %llu\nrss_after_first_reclaim_MiB %llu\n",
	       up[rounds / 2], down[rounds / 2], (unsigned long long)rss0, (unsigned long long)rss1);
	(void)hv_partition_stop(p);
	pthread_join(t, NULL);
	hv_partition_free(p);
	free(img);
	return 0;
}
