/* storvsc-hostbench: the host's path of the synthetic SCSI controller against libvhdx
 * directly, on the same VHDX, without KVM. A simulated guest (sim-guest.c) sends 4 KiB
 * READ (16) and WRITE (16) SRBs as GPA-direct packets at queue depth 1, each waited for by
 * spinning on its completion, through the real provider (ring, checks, fast path or I/O
 * thread, completion); then the same offsets go through vhdx_read/vhdx_write in this
 * thread. No flush in either. Of the guest's own cost only its ring copies are here (about
 * 90 ns a request): not building the SRB, the exit of its hypercall or taking the interrupt.
 * The host's side is all here, the raising of that interrupt included: a KVM_SIGNAL_MSI
 * ioctl, which fails at once without a VM (a real injection costs more). So this is what the
 * host side allows at most.
 *   storvsc-hostbench [-n RUNS] [-c COUNT] [-m MIB] [-d DIR | -i IMAGE]
 * The image (a dynamic VHDX of MIB MiB, every block allocated, random data) is made in DIR
 * (default /dev/shm, else /tmp) and removed; or IMAGE, which is used as it is (and written
 * to). Prints a table and a last line
 *   host_read=IOPS direct_read=IOPS host_write=IOPS direct_write=IOPS lat_ns=NS inline=PCT
 * (medians of RUNS; lat_ns the controller's own mean latency per request, inline the share
 * of requests it served on the signalling thread). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "formats/vhdx/vhdx.h"
#include "tests/hvcore/sim-guest.h"

#define LBS 512u
#define IO 4096u

enum { SIG_READ, SIG_WRITE, POLL_READ, POLL_WRITE, QD_READ, QD_WRITE, DIRECT_READ, DIRECT_WRITE,
       LAT, INLINE, POLL_SIGNALS, NCOLS };

static uint64_t next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp);
	return v[n / 2];
}

static int image_size(const char *path, uint64_t *size)
{
	struct vhdx_info info;
	struct vhdx *v;
	int r = vhdx_open(path, 0, &v);

	if (r == 0 && (r = vhdx_info_get(v, &info)) == 0)
		*size = info.virtual_size;
	vhdx_free(v);
	return r == 0 && *size < IO ? -EINVAL : r;
}

static int make_image(const char *path, uint64_t size)
{
	struct vhdx_create_opts o = { .type = VHDX_TYPE_DYNAMIC, .size = size };
	static uint8_t buf[1 << 20];
	uint64_t seed = 88172645463325252ull, off;
	struct vhdx *v;
	int r;

	unlink(path);
	r = vhdx_create(path, &o);
	if (r == 0)
		r = vhdx_open(path, VHDX_OPEN_RDWR, &v);
	if (r)
		return r;
	for (off = 0; off < size && r == 0; off += sizeof(buf)) {
		for (size_t i = 0; i < sizeof(buf); i += 8)
			memcpy(buf + i, &(uint64_t){ next(&seed) }, 8);
		r = vhdx_write(v, buf, sizeof(buf), off);
	}
	if (r == 0)
		r = vhdx_close(v);
	else
		vhdx_free(v);
	return r;
}

/* COUNT requests through the provider, reads then writes, QD outstanding at a time (each with
 * its own 4 KiB of guest RAM). Signalled (POLL false): the guest signals each request and the
 * signalling thread serves it; fills out[SIG_*], LAT, INLINE. Polled: ring polling on, the
 * guest polling its completions (masked, so no interrupts); fills out[POLL_*] at queue depth
 * 1 (and POLL_SIGNALS, the share of requests the guest still signalled), out[QD_*] deeper. */
static int host_run(const char *path, uint64_t size, long count, uint64_t seed, bool poll,
		    unsigned qd, double *out)
{
	struct hv_disk_config disk = { .path = path };
	struct hv_partition_config cfg = { .disks = &disk, .ndisks = 1, .ic_disabled = 0xf,
					   .scsi_poll = poll ? 1 : -1 };
	struct hv_disk_stats ds;
	struct sim_srb_res res = { 0 };
	struct sim_guest *g;
	char why[256] = "";
	int pass, r;

	r = sim_guest_new(&cfg, &g, why, sizeof(why));
	if (r) {
		fprintf(stderr, "storvsc-hostbench: %s: %s\n", path, why[0] ? why : strerror(-r));
		return r;
	}
	r = sim_scsi_init(g);
	sim_guest_poll_completions(g, poll);
	memset(sim_guest_ram(g, SIM_DATA), 0x5a, (size_t)qd * IO);
	for (pass = 0; pass < 2 && r == 0; pass++) {
		uint64_t s = seed;
		long sent = 0, done = 0;
		double t0 = now_s(), iops;

		while (done < count && r == 0) {
			for (; sent < count && sent - done < (long)qd; sent++)
				(void)sim_scsi_rw_submit(g, 0, pass == 1, next(&s) % (size / IO) * (IO / LBS),
							 IO / LBS, LBS, SIM_DATA + (uint64_t)(sent % qd) * IO);
			r = sim_scsi_wait(g, &res);
			if (r == 0 && (res.srb_status != 1 || res.scsi_status != 0 || res.xfer != IO))
				r = -EIO;
			done++;
		}
		iops = (double)count / (now_s() - t0);
		if (!poll)
			out[pass ? SIG_WRITE : SIG_READ] = iops;
		else if (qd == 1)
			out[pass ? POLL_WRITE : POLL_READ] = iops;
		else
			out[pass ? QD_WRITE : QD_READ] = iops;
	}
	if (r)
		fprintf(stderr, "storvsc-hostbench: a request failed (srb %#x, scsi %#x)\n",
			res.srb_status, res.scsi_status);
	if (poll && qd == 1)
		out[POLL_SIGNALS] = 100.0 * (double)g->signals / (2.0 * (double)count);
	else if (!poll && r == 0 && hv_partition_disk_stats(g->p, &ds, 1) == 1) {
		out[LAT] = (double)ds.lat_mean_ns;
		out[INLINE] = 100.0 * (double)ds.inline_ops / (double)(ds.read_ops + ds.write_ops);
	}
	sim_guest_free(g);
	return r;
}

static int direct_run(const char *path, uint64_t size, long count, uint64_t seed, double *out)
{
	static uint8_t buf[IO];
	struct vhdx *v;
	int pass, r = vhdx_open(path, VHDX_OPEN_RDWR, &v);

	if (r)
		return r;
	memset(buf, 0x5a, sizeof(buf));
	for (pass = 0; pass < 2 && r == 0; pass++) {
		uint64_t s = seed;
		double t0 = now_s();

		for (long i = 0; i < count && r == 0; i++) {
			uint64_t off = next(&s) % (size / IO) * IO;

			r = pass ? vhdx_write(v, buf, IO, off) : vhdx_read(v, buf, IO, off);
		}
		out[pass ? DIRECT_WRITE : DIRECT_READ] = (double)count / (now_s() - t0);
	}
	if (r == 0)
		r = vhdx_close(v);
	else
		vhdx_free(v);
	return r;
}

int main(int argc, char **argv)
{
	const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", *image = NULL;
	unsigned long runs = 5, mib = 128;
	long count = 20000;
	unsigned qd = 8;
	double *v[NCOLS], m[NCOLS];
	char path[4096];
	uint64_t size;
	unsigned long i;
	int opt, k, r = 0;

	while ((opt = getopt(argc, argv, "n:c:m:d:i:q:")) != -1) {
		switch (opt) {
		case 'q': qd = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'n': runs = strtoul(optarg, NULL, 0); break;
		case 'c': count = atol(optarg); break;
		case 'm': mib = strtoul(optarg, NULL, 0); break;
		case 'd': dir = optarg; break;
		case 'i': image = optarg; break;
		default:
			fprintf(stderr, "usage: storvsc-hostbench [-n RUNS] [-c COUNT] [-m MIB] [-q DEPTH] "
					"[-d DIR | -i IMAGE]\n");
			return 2;
		}
	}
	if (!runs || count <= 0 || !mib || mib > 65536 || qd < 1 || qd > 32)
		return 2;
	if (image) {
		r = image_size(image, &size);
		snprintf(path, sizeof(path), "%s", image);
		if (r) {
			fprintf(stderr, "storvsc-hostbench: cannot open %s: %s\n", image, strerror(-r));
			return 1;
		}
	} else {
		snprintf(path, sizeof(path), "%s/hvkit-storvsc-hostbench-%ld.vhdx", dir, (long)getpid());
		size = (uint64_t)mib << 20;
		r = make_image(path, size);
		if (r) {
			fprintf(stderr, "storvsc-hostbench: cannot make %s: %s\n", path, strerror(-r));
			return 1;
		}
	}
	for (k = 0; k < NCOLS; k++)
		v[k] = calloc(runs, sizeof(double));
	for (i = 0; i < runs && r == 0; i++) {
		double row[NCOLS] = { 0 };
		int order[4] = { 0, 1, 2, 3 }; /* signalled, polled, polled deeper, direct */

		/* the order turns each run, so a drift of the machine hits all alike */
		for (k = 0; k < 4 && r == 0; k++) {
			switch (order[(k + i) % 4]) {
			case 0: r = host_run(path, size, count, i + 1, false, 1, row); break;
			case 1: r = host_run(path, size, count, i + 1, true, 1, row); break;
			case 2: r = host_run(path, size, count, i + 1, true, qd, row); break;
			default: r = direct_run(path, size, count, i + 1, row); break;
			}
		}
		for (k = 0; k < NCOLS; k++)
			v[k][i] = row[k];
	}
	if (!image)
		unlink(path);
	if (r) {
		fprintf(stderr, "storvsc-hostbench: run %lu failed: %s\n", i, strerror(-r));
		return 1;
	}
	for (k = 0; k < NCOLS; k++) {
		m[k] = median(v[k], (unsigned)runs);
		free(v[k]);
	}
	printf("synthetic SCSI host path (simulated guest) against libvhdx direct, %llu MiB VHDX\n"
	       "%s, %ld requests per load, median of %lu runs\n",
	       (unsigned long long)(size >> 20), path, count, runs);
	printf("                     signalled QD1   polled QD1   polled QD%-3u    direct\n", qd);
	for (k = 0; k < 2; k++)
		printf("  random 4 KiB %-5s %8.0f IOPS %8.0f IOPS %8.0f IOPS %8.0f IOPS\n"
		       "    of direct        %8.1f %%     %8.1f %%     %8.1f %%\n",
		       k ? "write" : "read", m[k ? SIG_WRITE : SIG_READ], m[k ? POLL_WRITE : POLL_READ],
		       m[k ? QD_WRITE : QD_READ], m[k ? DIRECT_WRITE : DIRECT_READ],
		       100 * m[k ? SIG_WRITE : SIG_READ] / m[k ? DIRECT_WRITE : DIRECT_READ],
		       100 * m[k ? POLL_WRITE : POLL_READ] / m[k ? DIRECT_WRITE : DIRECT_READ],
		       100 * m[k ? QD_WRITE : QD_READ] / m[k ? DIRECT_WRITE : DIRECT_READ]);
	printf("  signalled: the guest signals each request (here a call, free; in a VM an exit) and\n"
	       "  the signalling thread serves it: controller's mean latency %.2f us, %.0f %% of\n"
	       "  requests done inline. polled: ring polling (the I/O thread serves the masked ring,\n"
	       "  the guest polls for completions): the guest signalled %.2f %% of its requests.\n",
	       m[LAT] / 1000, m[INLINE], m[POLL_SIGNALS]);
	printf("host_read=%.0f direct_read=%.0f host_write=%.0f direct_write=%.0f lat_ns=%.0f inline=%.0f "
	       "poll_read=%.0f poll_write=%.0f poll_signals=%.2f qd=%u qd_read=%.0f qd_write=%.0f\n",
	       m[SIG_READ], m[DIRECT_READ], m[SIG_WRITE], m[DIRECT_WRITE], m[LAT], m[INLINE],
	       m[POLL_READ], m[POLL_WRITE], m[POLL_SIGNALS], qd, m[QD_READ], m[QD_WRITE]);
	return 0;
}
