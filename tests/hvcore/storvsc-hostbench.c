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

enum { HOST_READ, DIRECT_READ, HOST_WRITE, DIRECT_WRITE, LAT, INLINE, NCOLS };

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

/* COUNT requests through the provider; fills out[HOST_READ], out[HOST_WRITE], LAT, INLINE. */
static int host_run(const char *path, uint64_t size, long count, uint64_t seed, double *out)
{
	struct hv_disk_config disk = { .path = path };
	struct hv_partition_config cfg = { .disks = &disk, .ndisks = 1, .ic_disabled = 0xf };
	struct hv_disk_stats ds;
	struct sim_srb_res res;
	struct sim_guest *g;
	char why[256] = "";
	int pass, r;

	r = sim_guest_new(&cfg, &g, why, sizeof(why));
	if (r) {
		fprintf(stderr, "storvsc-hostbench: %s: %s\n", path, why[0] ? why : strerror(-r));
		return r;
	}
	r = sim_scsi_init(g);
	memset(sim_guest_ram(g, SIM_DATA), 0x5a, IO);
	for (pass = 0; pass < 2 && r == 0; pass++) {
		uint64_t s = seed;
		double t0 = now_s();

		for (long i = 0; i < count && r == 0; i++)
			r = sim_scsi_rw(g, 0, pass == 1, next(&s) % (size / IO) * (IO / LBS), IO / LBS, LBS,
					SIM_DATA, &res);
		out[pass ? HOST_WRITE : HOST_READ] = (double)count / (now_s() - t0);
	}
	if (r)
		fprintf(stderr, "storvsc-hostbench: a request failed (srb %#x, scsi %#x)\n",
			res.srb_status, res.scsi_status);
	if (r == 0 && hv_partition_disk_stats(g->p, &ds, 1) == 1) {
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
	double *v[NCOLS], m[NCOLS];
	char path[4096];
	uint64_t size;
	unsigned long i;
	int opt, k, r = 0;

	while ((opt = getopt(argc, argv, "n:c:m:d:i:")) != -1) {
		switch (opt) {
		case 'n': runs = strtoul(optarg, NULL, 0); break;
		case 'c': count = atol(optarg); break;
		case 'm': mib = strtoul(optarg, NULL, 0); break;
		case 'd': dir = optarg; break;
		case 'i': image = optarg; break;
		default:
			fprintf(stderr, "usage: storvsc-hostbench [-n RUNS] [-c COUNT] [-m MIB] [-d DIR | -i IMAGE]\n");
			return 2;
		}
	}
	if (!runs || count <= 0 || !mib || mib > 65536)
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

		/* which goes first alternates, so a drift of the machine hits both alike */
		if (i % 2 == 0)
			r = host_run(path, size, count, i + 1, row);
		if (r == 0)
			r = direct_run(path, size, count, i + 1, row);
		if (r == 0 && i % 2 == 1)
			r = host_run(path, size, count, i + 1, row);
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
	printf("synthetic SCSI host path (simulated guest, queue depth 1) against libvhdx direct,\n"
	       "%llu MiB VHDX %s, %ld requests per load, median of %lu runs\n",
	       (unsigned long long)(size >> 20), path, count, runs);
	printf("                       host path       direct    host/direct\n");
	printf("  random 4 KiB read  %8.0f IOPS %8.0f IOPS  %6.1f %%\n", m[HOST_READ], m[DIRECT_READ],
	       100 * m[HOST_READ] / m[DIRECT_READ]);
	printf("  random 4 KiB write %8.0f IOPS %8.0f IOPS  %6.1f %%\n", m[HOST_WRITE],
	       m[DIRECT_WRITE], 100 * m[HOST_WRITE] / m[DIRECT_WRITE]);
	printf("  controller's mean latency %.2f us, %.0f %% of requests done inline\n", m[LAT] / 1000,
	       m[INLINE]);
	printf("host_read=%.0f direct_read=%.0f host_write=%.0f direct_write=%.0f lat_ns=%.0f inline=%.0f\n",
	       m[HOST_READ], m[DIRECT_READ], m[HOST_WRITE], m[DIRECT_WRITE], m[LAT], m[INLINE]);
	return 0;
}
