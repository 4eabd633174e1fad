/* The synthetic SCSI controller's fast path (requests done on the signalling thread when
 * libvhdx can do them without blocking) and its fallbacks to the I/O thread, driven by a
 * simulated guest (sim-guest.c): no KVM needed. Checked: data read inline is what was
 * written; a read sent right behind a queued write sees the write, and completions keep
 * their order; data not in the page cache, blocks not allocated and differencing blocks
 * that need their sector bitmap go to the I/O thread and are right too; the statistics
 * count both paths alike. Whether the fast path can run depends on the file system of
 * $TMPDIR (tmpfs refuses RWF_NOWAIT, but without swap libvhdx's tmpfs rule does its reads
 * and overwrites): where it cannot, the test says so and checks the rest. The tmpfs rule
 * itself is checked on /dev/shm when the host has no swap. No timings. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <linux/magic.h>

#include <cmocka.h>

#include "formats/vhdx/vhdx.h"
#include "hvcore/vmbus-state.h"
#include "tests/hvcore/sim-guest.h"

#define MIB (1ULL << 20)
#define LBS 512u
#define IO 4096u

static char dir[64];
static bool nowait_reads; /* cached data in dir can be read inline (RWF_NOWAIT, tmpfs rule) */
static bool dir_ram;      /* dir is on tmpfs and the host has no swap: the tmpfs rule */

static char *path_of(const char *name)
{
	static char buf[8][128];
	static int k;
	char *b = buf[k++ % 8];

	snprintf(b, sizeof(buf[0]), "%s/%s", dir, name);
	return b;
}

static void fill(uint8_t *b, uint32_t len, uint64_t seed)
{
	uint32_t i;

	for (i = 0; i < len; i++)
		b[i] = (uint8_t)((seed * 0x9e3779b97f4a7c15ULL + i * 131) >> 24);
}

/* A dynamic disk of 64 MiB (32 MiB blocks) with the first block written through libvhdx
 * (pattern seeded by offset); the second block is left unallocated. */
static void make_disk(const char *path)
{
	struct vhdx_create_opts o = { .type = VHDX_TYPE_DYNAMIC, .size = 64 * MIB };
	uint8_t *b = malloc(MIB);
	struct vhdx *v;
	uint64_t off;

	assert_non_null(b);
	unlink(path);
	assert_int_equal(vhdx_create(path, &o), 0);
	assert_int_equal(vhdx_open(path, VHDX_OPEN_RDWR, &v), 0);
	for (off = 0; off < 32 * MIB; off += MIB) {
		unsigned k;

		for (k = 0; k < MIB / IO; k++)
			fill(b + k * IO, IO, off + k * IO);
		assert_int_equal(vhdx_write(v, b, MIB, off), 0);
	}
	assert_int_equal(vhdx_close(v), 0);
	free(b);
}

static struct sim_guest *start(struct hv_disk_config *disk)
{
	struct hv_partition_config cfg = { .disks = disk, .ndisks = 1, .ic_disabled = 0xf };
	struct sim_guest *g;
	char why[256] = "";

	if (sim_guest_new(&cfg, &g, why, sizeof(why)) != 0)
		print_error("sim_guest_new: %s\n", why);
	assert_non_null(g);
	assert_int_equal(sim_scsi_init(g), 0);
	return g;
}

static void stats(struct sim_guest *g, struct hv_disk_stats *ds)
{
	assert_int_equal(hv_partition_disk_stats(g->p, ds, 1), 1);
}

static void rw(struct sim_guest *g, bool write, uint64_t off, uint32_t len, uint64_t gpa)
{
	struct sim_srb_res res;

	assert_int_equal(sim_scsi_rw(g, 0, write, off / LBS, len / LBS, LBS, gpa, &res), 0);
}

/* Reads from cached, allocated data and from an unallocated block are done inline (when the
 * file system allows) and return the right bytes, into an aligned buffer and into one that
 * starts inside a page and crosses two. */
static void test_inline_reads(void **state)
{
	struct hv_disk_config disk = { .path = path_of("fast.vhdx") };
	uint8_t want[2 * IO], zero[IO];
	struct hv_disk_stats ds;
	struct sim_guest *g;
	uint64_t inl;

	(void)state;
	make_disk(disk.path);
	g = start(&disk);
	rw(g, false, 5 * IO, IO, SIM_DATA);
	fill(want, IO, 5 * IO);
	assert_memory_equal(sim_guest_ram(g, SIM_DATA), want, IO);
	rw(g, false, 9 * IO, 2 * IO, SIM_DATA + 512); /* three guest pages */
	fill(want, IO, 9 * IO);
	fill(want + IO, IO, 10 * IO);
	assert_memory_equal(sim_guest_ram(g, SIM_DATA + 512), want, 2 * IO);
	memset(sim_guest_ram(g, SIM_DATA), 0xee, IO);
	rw(g, false, 40 * MIB, IO, SIM_DATA); /* the unallocated block */
	memset(zero, 0, sizeof(zero));
	assert_memory_equal(sim_guest_ram(g, SIM_DATA), zero, IO);
	stats(g, &ds);
	assert_int_equal(ds.read_ops, 3);
	assert_int_equal(ds.read_bytes, 4 * IO);
	assert_int_equal(ds.errors, 0);
	assert_int_equal(ds.queue_depth, 0);
	assert_true(ds.lat_mean_ns > 0);
	inl = ds.inline_ops;
	if (nowait_reads)
		assert_int_equal(inl, 3);
	else
		printf("# %s refuses RWF_NOWAIT reads: no read can be done inline there\n", dir);
	sim_guest_free(g);
}

/* A flush, a write and a read of what it writes, sent back to back: the read queues behind
 * the write (the I/O thread is busy), sees its data, and the completions come in order. A
 * write that needs a new block never goes inline. */
static void test_read_behind_write(void **state)
{
	struct hv_disk_config disk = { .path = path_of("race.vhdx") };
	static const uint8_t sync16[16] = { 0x91 };
	struct hv_disk_stats ds;
	struct sim_srb_res res;
	struct sim_guest *g;
	uint8_t want[IO];
	unsigned i;

	(void)state;
	make_disk(disk.path);
	g = start(&disk);
	for (i = 0; i < 40; i++) {
		/* even: allocated data; odd: the unallocated block (allocation on the I/O thread) */
		uint64_t off = (i % 2 ? 32 * MIB : 0) + (uint64_t)(i * 7 % 64) * IO, t[3];
		uint8_t cdb[16];
		int k;

		fill(sim_guest_ram(g, SIM_DATA), IO, 1000 + i);
		memset(sim_guest_ram(g, SIM_DATA + IO), 0, IO);
		t[0] = sim_scsi_submit(g, 0, sync16, 16, 0, 0);
		memset(cdb, 0, sizeof(cdb));
		cdb[0] = 0x8a;
		for (k = 0; k < 8; k++)
			cdb[2 + k] = (uint8_t)((off / LBS) >> (56 - 8 * k));
		cdb[13] = IO / LBS;
		t[1] = sim_scsi_submit(g, 0, cdb, 16, SIM_DATA, IO);
		cdb[0] = 0x88;
		t[2] = sim_scsi_submit(g, 0, cdb, 16, SIM_DATA + IO, IO);
		for (k = 0; k < 3; k++) {
			assert_int_equal(sim_scsi_wait(g, &res), 0);
			assert_int_equal(res.trans, t[k]);
			assert_int_equal(res.srb_status, 1);
			assert_int_equal(res.scsi_status, 0);
		}
		fill(want, IO, 1000 + i);
		assert_memory_equal(sim_guest_ram(g, SIM_DATA + IO), want, IO);
	}
	stats(g, &ds);
	assert_int_equal(ds.write_ops, 40);
	assert_int_equal(ds.read_ops, 40);
	assert_int_equal(ds.flushes, 40);
	assert_int_equal(ds.queue_depth, 0);
	/* Requests queued behind others never go inline; a read after its write completed may. */
	assert_true(ds.inline_ops <= 40);
	sim_guest_free(g);
}

/* What must go to the I/O thread: a read of data not in the page cache, a write that needs
 * a new block, a read of a differencing block only partly in the child (its sector bitmap is
 * read from the file). Each is right and none is counted inline. */
static void test_fallbacks(void **state)
{
	struct hv_disk_config disk = { .path = path_of("cold.vhdx") };
	struct hv_disk_config child = { .path = path_of("child.vhdx") };
	struct vhdx_create_opts o = { .type = VHDX_TYPE_DIFFERENCING, .parent = path_of("cold.vhdx") };
	static const uint8_t sync16[16] = { 0x91 };
	struct hv_disk_stats ds;
	struct sim_srb_res res;
	struct sim_guest *g;
	uint8_t want[IO];
	uint64_t inl;
	int fd;

	(void)state;
	make_disk(disk.path);
	g = start(&disk);
	/* a new block: allocated by the I/O thread */
	fill(sim_guest_ram(g, SIM_DATA), IO, 77);
	rw(g, true, 48 * MIB, IO, SIM_DATA);
	sim_scsi_submit(g, 0, sync16, 16, 0, 0);
	assert_int_equal(sim_scsi_wait(g, &res), 0);
	stats(g, &ds);
	assert_int_equal(ds.inline_ops, 0);
	/* out of the page cache (clean after the flush): RWF_NOWAIT says EAGAIN */
	fd = open(disk.path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fdatasync(fd), 0);
	assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	close(fd);
	memset(sim_guest_ram(g, SIM_DATA), 0, IO);
	rw(g, false, 48 * MIB, IO, SIM_DATA);
	fill(want, IO, 77);
	assert_memory_equal(sim_guest_ram(g, SIM_DATA), want, IO);
	rw(g, false, 3 * IO, IO, SIM_DATA);
	fill(want, IO, 3 * IO);
	assert_memory_equal(sim_guest_ram(g, SIM_DATA), want, IO);
	stats(g, &ds);
	inl = ds.inline_ops;
	/* the second read may find its page brought back in by the first; with the tmpfs rule
	 * the page never left */
	assert_true(inl <= (dir_ram ? 2 : 1));
	assert_int_equal(ds.read_ops, 2);
	assert_int_equal(ds.write_ops, 1);
	sim_guest_free(g);

	/* A differencing child: 512 bytes written make the block partially present. */
	unlink(child.path);
	assert_int_equal(vhdx_create(child.path, &o), 0);
	g = start(&child);
	memset(sim_guest_ram(g, SIM_DATA), 0xab, LBS);
	rw(g, true, 6 * IO, LBS, SIM_DATA);
	rw(g, false, 6 * IO, IO, SIM_DATA);
	fill(want, IO, 6 * IO);
	memset(want, 0xab, LBS);
	assert_memory_equal(sim_guest_ram(g, SIM_DATA), want, IO);
	stats(g, &ds);
	assert_int_equal(ds.read_ops, 1);
	assert_int_equal(ds.inline_ops, 0);
	rw(g, false, 9 * IO, IO, SIM_DATA); /* not present in the child: the parent's data */
	fill(want, IO, 9 * IO);
	assert_memory_equal(sim_guest_ram(g, SIM_DATA), want, IO);
	sim_guest_free(g);
}

/* Is D on tmpfs while /proc/swaps lists no swap area (libvhdx's tmpfs rule applies)? */
static bool tmpfs_without_swap(const char *d)
{
	struct statfs sf;
	char line[512];
	int n = 0;
	FILE *f;

	if (statfs(d, &sf) != 0 || sf.f_type != TMPFS_MAGIC)
		return false;
	f = fopen("/proc/swaps", "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		n++;
	fclose(f);
	return n == 1;
}

/* On tmpfs without swap, reads and overwrites of pages the file has are done inline, with
 * the right data, though tmpfs refuses RWF_NOWAIT; a hole in the file reads as zeros inline,
 * but a write over it (which allocates a page) and a write that needs a new block go to the
 * I/O thread. */
static void test_tmpfs_rule(void **state)
{
	char shm[64] = "/dev/shm/hvkit-storvsc-fast-XXXXXX", path[96], cmd[128];
	struct hv_disk_config disk = { .path = path };
	uint8_t want[2 * IO], zero[IO];
	struct vhdx_extent ext;
	struct hv_disk_stats ds;
	struct sim_guest *g;
	struct vhdx *v;
	int fd;

	(void)state;
	if (!tmpfs_without_swap("/dev/shm")) {
		printf("# /dev/shm is not tmpfs, or the host has swap: the tmpfs rule is off\n");
		skip();
	}
	assert_non_null(mkdtemp(shm));
	snprintf(path, sizeof(path), "%s/rule.vhdx", shm);
	make_disk(path);
	/* a hole in the file inside allocated block 0, at disk offset 20 * IO */
	assert_int_equal(vhdx_open(path, 0, &v), 0);
	assert_int_equal(vhdx_map(v, 20 * IO, IO, &ext), 0);
	assert_int_equal(ext.kind, VHDX_EXTENT_DATA);
	assert_int_equal(vhdx_close(v), 0);
	fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				   (off_t)ext.file_offset, IO), 0);
	close(fd);
	memset(zero, 0, sizeof(zero));

	g = start(&disk);
	rw(g, false, 5 * IO, IO, SIM_DATA);
	fill(want, IO, 5 * IO);
	assert_memory_equal(sim_guest_ram(g, SIM_DATA), want, IO);
	rw(g, false, 9 * IO, 2 * IO, SIM_DATA + 512); /* three guest pages */
	fill(want, IO, 9 * IO);
	fill(want + IO, IO, 10 * IO);
	assert_memory_equal(sim_guest_ram(g, SIM_DATA + 512), want, 2 * IO);
	memset(sim_guest_ram(g, SIM_DATA), 0xee, IO);
	rw(g, false, 40 * MIB, IO, SIM_DATA); /* the unallocated block */
	assert_memory_equal(sim_guest_ram(g, SIM_DATA), zero, IO);
	memset(sim_guest_ram(g, SIM_DATA), 0xee, IO);
	rw(g, false, 20 * IO, IO, SIM_DATA); /* the hole */
	assert_memory_equal(sim_guest_ram(g, SIM_DATA), zero, IO);
	stats(g, &ds);
	assert_int_equal(ds.read_ops, 4);
	assert_int_equal(ds.inline_ops, 4);

	/* an overwrite: inline (once the write session has begun, by a first write that is
	 * not, as it goes through vhdx_write) */
	fill(sim_guest_ram(g, SIM_DATA), IO, 501);
	rw(g, true, 7 * IO, IO, SIM_DATA);
	fill(sim_guest_ram(g, SIM_DATA), IO, 502);
	rw(g, true, 8 * IO, IO, SIM_DATA);
	stats(g, &ds);
	assert_int_equal(ds.write_ops, 2);
	assert_int_equal(ds.inline_ops, 5);
	/* the hole and the unallocated block: the I/O thread */
	fill(sim_guest_ram(g, SIM_DATA), IO, 503);
	rw(g, true, 20 * IO, IO, SIM_DATA);
	fill(sim_guest_ram(g, SIM_DATA), IO, 504);
	rw(g, true, 40 * MIB, IO, SIM_DATA);
	stats(g, &ds);
	assert_int_equal(ds.write_ops, 4);
	assert_int_equal(ds.inline_ops, 5);
	/* all four read back inline (the hole is a page now) */
	rw(g, false, 7 * IO, 2 * IO, SIM_DATA);
	fill(want, IO, 501);
	fill(want + IO, IO, 502);
	assert_memory_equal(sim_guest_ram(g, SIM_DATA), want, 2 * IO);
	rw(g, false, 20 * IO, IO, SIM_DATA);
	fill(want, IO, 503);
	assert_memory_equal(sim_guest_ram(g, SIM_DATA), want, IO);
	rw(g, false, 40 * MIB, IO, SIM_DATA);
	fill(want, IO, 504);
	assert_memory_equal(sim_guest_ram(g, SIM_DATA), want, IO);
	stats(g, &ds);
	assert_int_equal(ds.read_ops, 7);
	assert_int_equal(ds.inline_ops, 8);
	assert_int_equal(ds.errors, 0);
	sim_guest_free(g);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", shm);
	assert_int_equal(system(cmd), 0);
}

/* The tmpfs rule remembers which pages of the file exist; a page libvhdx punched out (a compact)
 * must be asked again once its file space is used by another block: a write there would
 * allocate, so it is -EAGAIN, not done on the caller's thread. */
static void test_tmpfs_rule_forgets(void **state)
{
	char shm[64] = "/dev/shm/hvkit-storvsc-fast-XXXXXX", path[96], cmd[128];
	struct vhdx_create_opts o = { .type = VHDX_TYPE_DYNAMIC, .size = 64 * MIB };
	uint8_t *b = calloc(1, MIB), page[IO];
	struct iovec iov = { page, IO };
	struct vhdx_extent ext;
	uint64_t where, released = 0;
	struct vhdx *v;

	(void)state;
	assert_non_null(b);
	if (!tmpfs_without_swap("/dev/shm")) {
		free(b);
		printf("# /dev/shm is not tmpfs, or the host has swap: the tmpfs rule is off\n");
		skip();
	}
	assert_non_null(mkdtemp(shm));
	snprintf(path, sizeof(path), "%s/forget.vhdx", shm);
	assert_int_equal(vhdx_create(path, &o), 0);
	assert_int_equal(vhdx_open(path, VHDX_OPEN_RDWR, &v), 0);
	/* block 1 written whole: every page of it exists, and an overwrite is done nowait */
	memset(b, 0x11, MIB);
	for (uint64_t off = 32 * MIB; off < 64 * MIB; off += MIB)
		assert_int_equal(vhdx_write(v, b, MIB, off), 0);
	assert_int_equal(vhdx_map(v, 32 * MIB, IO, &ext), 0);
	where = ext.file_offset;
	memset(page, 0x22, IO);
	assert_int_equal(vhdx_writev_nowait(v, &iov, 1, 32 * MIB + 2 * IO), 0);
	/* zeroed, then compacted: the file space is punched out and the file cut back */
	memset(b, 0, MIB);
	for (uint64_t off = 32 * MIB; off < 64 * MIB; off += MIB)
		assert_int_equal(vhdx_write(v, b, MIB, off), 0);
	assert_int_equal(vhdx_compact(v, &released), 0);
	assert_int_equal(released, 1);
	/* block 0 now takes the same file space, with one page written: the rest are holes */
	assert_int_equal(vhdx_write(v, b, IO, 0), 0);
	assert_int_equal(vhdx_map(v, 0, IO, &ext), 0);
	assert_int_equal(ext.kind, VHDX_EXTENT_DATA);
	assert_int_equal(ext.file_offset, where);
	assert_int_equal(vhdx_writev_nowait(v, &iov, 1, 2 * IO), -EAGAIN);
	assert_int_equal(vhdx_writev_nowait(v, &iov, 1, 0), 0); /* the page that exists */
	assert_int_equal(vhdx_close(v), 0);
	free(b);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", shm);
	assert_int_equal(system(cmd), 0);
}

/* Ring polling: with requests coming fast, the I/O thread masks the request ring and serves
 * it, and the guest (which looks at the mask, as Linux does) stops signalling. Checked: at
 * queue depth 8, writes then reads of them and a read sent right behind a write of the same
 * blocks come back right and in order; polling did take over (requests went unsignalled);
 * with gaps around the polling window between requests, so that the ring is masked and
 * unmasked again and again, no request is lost (each is waited for, 10 s at most). */
static void test_ring_polling(void **state)
{
	struct hv_disk_config disk = { .path = path_of("poll.vhdx") };
	struct hv_partition_config cfg = { .disks = &disk, .ndisks = 1, .ic_disabled = 0xf,
					   .scsi_poll = 1 };
	static const unsigned gaps_us[] = { 0, 0, 5, 20, 45, 55, 80, 200 };
	struct sim_srb_res res[8];
	struct hv_disk_stats ds;
	struct sim_guest *g;
	uint64_t t[8], seed = 7, sent;
	time_t deadline = time(NULL) + 10;
	char why[256] = "";
	unsigned k, i;

	(void)state;
	make_disk(disk.path);
	assert_int_equal(sim_guest_new(&cfg, &g, why, sizeof(why)), 0);
	assert_int_equal(sim_scsi_init(g), 0);
	sim_guest_poll_completions(g, true);
	for (unsigned round = 0; round < 50; round++) {
		/* eight writes of distinct patterns, at once, then the eight blocks read back */
		for (k = 0; k < 8; k++) {
			fill(sim_guest_ram(g, SIM_DATA + k * IO), IO, 1000 * round + k);
			t[k] = sim_scsi_rw_submit(g, 0, true, (64 + 8 * round + k) * (IO / LBS), IO / LBS,
						  LBS, SIM_DATA + k * IO);
		}
		for (k = 0; k < 8; k++) {
			assert_int_equal(sim_scsi_wait(g, &res[k]), 0);
			assert_int_equal(res[k].trans, t[k]);
			assert_int_equal(res[k].srb_status, 1);
		}
		memset(sim_guest_ram(g, SIM_DATA), 0xee, 8 * IO);
		for (k = 0; k < 8; k++)
			t[k] = sim_scsi_rw_submit(g, 0, false, (64 + 8 * round + k) * (IO / LBS), IO / LBS,
						  LBS, SIM_DATA + k * IO);
		for (k = 0; k < 8; k++) {
			uint8_t want[IO];

			assert_int_equal(sim_scsi_wait(g, &res[k]), 0);
			assert_int_equal(res[k].trans, t[k]);
			fill(want, IO, 1000 * round + k);
			assert_memory_equal(sim_guest_ram(g, SIM_DATA + k * IO), want, IO);
		}
		/* a write and a read of the same block, back to back: the read sees the write */
		fill(sim_guest_ram(g, SIM_DATA), IO, 777 + round);
		memset(sim_guest_ram(g, SIM_DATA + IO), 0, IO);
		t[0] = sim_scsi_rw_submit(g, 0, true, 3 * (IO / LBS), IO / LBS, LBS, SIM_DATA);
		t[1] = sim_scsi_rw_submit(g, 0, false, 3 * (IO / LBS), IO / LBS, LBS, SIM_DATA + IO);
		assert_int_equal(sim_scsi_wait(g, &res[0]), 0);
		assert_int_equal(sim_scsi_wait(g, &res[1]), 0);
		assert_int_equal(res[0].trans, t[0]);
		assert_int_equal(res[1].trans, t[1]);
		assert_memory_equal(sim_guest_ram(g, SIM_DATA + IO), sim_guest_ram(g, SIM_DATA), IO);
	}
	/* 900 requests so far: polling should have spared the guest some signals. How many
	 * depends on how soon the I/O thread gets a CPU, so on a busy host more requests are
	 * sent, for up to 10 s, until one goes unsignalled. */
	for (sent = 900; g->signals >= sent && sent < 900 + 1000000; sent++) {
		if (sent % 1000 == 0 && time(NULL) > deadline)
			break;
		rw(g, false, sent % 2048 * IO, IO, SIM_DATA);
	}
	print_message("# ring polling: the guest signalled %llu of %llu requests\n",
		      (unsigned long long)g->signals, (unsigned long long)sent);
	assert_true(g->signals < sent);
	/* gaps around the window: masked, unmasked, masked again; nothing may be lost */
	for (i = 0; i < 400; i++) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		usleep(gaps_us[(seed >> 33) % 8]);
		rw(g, (seed >> 40) & 1, (seed >> 20) % 2048 * IO, IO, SIM_DATA);
	}
	stats(g, &ds);
	assert_int_equal(ds.read_ops + ds.write_ops, sent + 400);
	assert_int_equal(ds.errors, 0);
	assert_int_equal(ds.queue_depth, 0);
	sim_guest_free(g);
}

/* A new partition of cfg (its disk made afresh) whose guest sends 4 KiB reads, up to max, and
 * reads nothing, until its request ring is full: *sent and the first transaction id. */
static struct sim_guest *flood(struct hv_partition_config *cfg, uint64_t max, uint64_t *sent,
			       uint64_t *first)
{
	struct sim_guest *g;
	char why[256] = "";
	uint64_t t;

	make_disk(cfg->disks[0].path);
	assert_int_equal(sim_guest_new(cfg, &g, why, sizeof(why)), 0);
	assert_int_equal(sim_scsi_init(g), 0);
	g->nowait = true;
	*sent = *first = 0;
	while (*sent < max && (t = sim_scsi_rw_submit(g, 0, false, *sent % 1024 * (IO / LBS),
						       IO / LBS, LBS, SIM_DATA)) != 0) {
		*first = *first ? *first : t;
		(*sent)++;
	}
	return g;
}

/* A guest that sends and sends without reading its completions: they fill its ring, then the
 * controller's 256 request slots (completions waiting for room); then the controller leaves
 * the requests in the request ring until it has a free slot, rather than answering BUSY
 * into a full ring (an answer lost, a request never completed). Once the guest reads, every
 * request it sent completes, successfully, in order. */
static void test_guest_not_reading(void **state)
{
	struct hv_disk_config disk = { .path = path_of("flood.vhdx") };
	struct hv_partition_config cfg = { .disks = &disk, .ndisks = 1, .ic_disabled = 0xf,
					   .scsi_poll = -1 };
	struct sim_srb_res res;
	struct sim_guest *g;
	uint64_t sent, got = 0, first;
	unsigned idle = 0;
	int r;

	(void)state;
	g = flood(&cfg, 2000, &sent, &first);
	assert_true(sent > 442); /* the ring's completions and the slots' */
	assert_true(sent < 2000);
	while (got < sent && idle < 100000) {
		r = sim_scsi_poll(g, &res);
		assert_true(r >= 0);
		if (r == 0) {
			sim_guest_tick(g);
			idle++;
			continue;
		}
		assert_int_equal(res.trans, first + got);
		assert_int_equal(res.srb_status, 1);
		assert_int_equal(res.xfer, IO);
		got++;
		idle = 0;
	}
	assert_int_equal(got, sent);
	sim_guest_free(g);
}

static struct hv_channel *scsi_channel(struct sim_guest *g)
{
	for (unsigned i = 0; i < HV_MAX_CHANNELS; i++)
		if (g->p->hv->vmbus.chan[i] && g->p->hv->vmbus.chan[i]->vsp == &hv_vsp_storvsc)
			return g->p->hv->vmbus.chan[i];
	fail();
	return NULL;
}

/* Completions that wait for room in the guest's ring when the partition is saved are in the
 * controller's saved record, and a partition restored from it delivers them: the guest gets
 * every answer, in order. A damaged record is refused. */
static void test_backlog_saved(void **state)
{
	struct hv_disk_config disk = { .path = path_of("saved.vhdx") };
	struct hv_partition_config cfg = { .disks = &disk, .ndisks = 1, .ic_disabled = 0xf,
					   .scsi_poll = -1 };
	static uint8_t rec[HV_SAVED_PROVIDER_MAX];
	struct sim_srb_res res;
	struct sim_guest *g;
	uint64_t sent, got = 0, first;
	size_t len, n;
	char why[256] = "";
	int r;

	(void)state;
	g = flood(&cfg, 300, &sent, &first);
	assert_int_equal(sent, 300); /* the ring holds 186 answers: 114 wait */
	/* the guest reads what its ring holds; the rest stays with the controller */
	while ((r = sim_scsi_poll(g, &res)) == 1) {
		assert_int_equal(res.trans, first + got);
		got++;
	}
	assert_int_equal(r, 0);
	assert_true(got < sent);
	pthread_mutex_lock(&g->p->hv->lock);
	len = hv_vsp_storvsc.save(scsi_channel(g), rec, sizeof(rec));
	pthread_mutex_unlock(&g->p->hv->lock);
	n = (len - 8) / (8 + 64);
	assert_int_equal(n, sent - got);
	sim_guest_free(g);

	/* a new partition (rings of its own, as after a restore) loads the record */
	assert_int_equal(sim_guest_new(&cfg, &g, why, sizeof(why)), 0);
	assert_int_equal(sim_scsi_init(g), 0);
	assert_int_equal(hv_vsp_storvsc.load(scsi_channel(g), rec, len - 1), -EBADMSG);
	rec[8 + 8] ^= 0xff; /* the first answer's operation */
	assert_int_equal(hv_vsp_storvsc.load(scsi_channel(g), rec, len), -EBADMSG);
	rec[8 + 8] ^= 0xff;
	assert_int_equal(hv_vsp_storvsc.load(scsi_channel(g), rec, len), 0);
	sim_guest_tick(g);
	while ((r = sim_scsi_poll(g, &res)) == 1) {
		assert_int_equal(res.trans, first + got);
		assert_int_equal(res.srb_status, 1);
		got++;
	}
	assert_int_equal(r, 0);
	assert_int_equal(got, sent);
	sim_guest_free(g);
}

/* Does the file system of dir do RWF_NOWAIT reads (of data just written, so cached)? */
static bool probe_nowait(void)
{
	char *p = path_of("probe");
	char b[IO];
	struct iovec iov = { b, sizeof(b) };
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	bool ok;

	if (fd < 0)
		return false;
	memset(b, 1, sizeof(b));
	ok = pwrite(fd, b, sizeof(b), 0) == (ssize_t)sizeof(b) &&
	     preadv2(fd, &iov, 1, 0, RWF_NOWAIT) == (ssize_t)sizeof(b);
	close(fd);
	unlink(p);
	return ok;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inline_reads),
		cmocka_unit_test(test_read_behind_write),
		cmocka_unit_test(test_fallbacks),
		cmocka_unit_test(test_tmpfs_rule),
		cmocka_unit_test(test_tmpfs_rule_forgets),
		cmocka_unit_test(test_ring_polling),
		cmocka_unit_test(test_guest_not_reading),
		cmocka_unit_test(test_backlog_saved),
	};
	char cmd[128];
	int r;

	snprintf(dir, sizeof(dir), "%s/hvkit-storvsc-fast-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir)) {
		printf("FAIL: cannot make a temporary directory\n");
		return 1;
	}
	dir_ram = tmpfs_without_swap(dir);
	nowait_reads = probe_nowait() || dir_ram;
	r = cmocka_run_group_tests(tests, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return r;
}
