/*
 * hv-img convert and map.
 *
 *   hv-img convert [-p] [-f raw|vhdx] [-O raw|vhdx] [-o OPTIONS] SRC DST
 *   hv-img map [--output human|json] FILE
 *
 * Convert copies only what holds data: zero extents of the source are skipped, and so are
 * 64 KiB pieces that read as zeros, so raw outputs are sparse and dynamic outputs allocate
 * only blocks with data.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/magic.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "cli/hv-img.h"

#define CHUNK (4u << 20)
#define PIECE (64u << 10)

/*
 * What lseek(SEEK_DATA/SEEK_HOLE) last said about a source file: [data_lo, data_hi) holds
 * data, [hole_lo, hole_hi) does not.  Each run of the file is asked about once: on tmpfs a
 * SEEK_HOLE walks every page up to the next hole, so asking again at every chunk made
 * converting a file without holes quadratic (2 GiB: seconds instead of a fraction).
 */
struct runs {
	uint64_t data_lo, data_hi, hole_lo, hole_hi;
};

struct img {
	struct vhdx *v; /* or a raw file: */
	int fd;
	uint64_t size;
	const char *path;
	int level_fd[VHDX_MAX_CHAIN]; /* each file of a chain, for copy_file_range; 0 = unopened */
	struct runs runs[VHDX_MAX_CHAIN]; /* of level_fd[i]; of fd in runs[0] for a raw file */
	bool no_direct;                /* a log replayed in memory: file bytes are not the data */
};

static const char *path_at_depth(const struct vhdx *v, const char *top, unsigned depth);

static bool is_vhdx_file(int fd)
{
	char sig[8];

	return pread(fd, sig, 8, 0) == 8 && memcmp(sig, "vhdxfile", 8) == 0;
}

static int src_open(const char *path, const char *fmt, struct img *s)
{
	struct stat st;
	int fd;

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->path = path;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return img_error(-errno, "%s", path);
	if (fmt ? strcmp(fmt, "vhdx") == 0 : is_vhdx_file(fd)) {
		close(fd);
		if (img_open(path, 0, &s->v) < 0)
			return IMG_ERR;
		struct vhdx_info i;
		if (vhdx_info_get(s->v, &i) < 0)
			return IMG_ERR;
		s->size = i.virtual_size;
		for (const struct vhdx *l = s->v; l; l = vhdx_parent_get(l))
			if (vhdx_info_get(l, &i) < 0 || i.log_replayed)
				s->no_direct = true;
		return 0;
	}
	if (fstat(fd, &st) < 0) {
		close(fd);
		return img_error(-errno, "%s", path);
	}
	s->fd = fd;
	s->size = (uint64_t)st.st_size;
	return 0;
}

static void img_release(struct img *s)
{
	for (int i = 0; i < VHDX_MAX_CHAIN; i++)
		if (s->level_fd[i] > 0)
			close(s->level_fd[i]);
	vhdx_free(s->v);
	s->v = NULL;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

/* The run of FD at POS, clipped to END: *len bytes that hold data (*data) or a hole. */
static void file_run(int fd, struct runs *c, uint64_t pos, uint64_t end, uint64_t *len,
		     bool *data)
{
	if ((pos < c->data_lo || pos >= c->data_hi) && (pos < c->hole_lo || pos >= c->hole_hi)) {
		off_t d = lseek(fd, (off_t)pos, SEEK_DATA);
		if (d < 0 && errno == ENXIO) {
			c->hole_lo = pos, c->hole_hi = UINT64_MAX;
		} else if (d < 0 || (uint64_t)d < pos) { /* no answer: take it all as data */
			c->data_lo = pos, c->data_hi = UINT64_MAX;
		} else {
			off_t h = lseek(fd, d, SEEK_HOLE);
			if ((uint64_t)d > pos)
				c->hole_lo = pos, c->hole_hi = (uint64_t)d;
			c->data_lo = (uint64_t)d;
			c->data_hi = h <= d ? UINT64_MAX : (uint64_t)h;
		}
	}
	*data = pos >= c->data_lo && pos < c->data_hi;
	uint64_t stop = *data ? c->data_hi : c->hole_hi;
	*len = (stop < end ? stop : end) - pos;
}

/*
 * Length of the extent at OFF (at most MAX) and whether it may hold data; *fd and *foff name
 * the file bytes that hold it when they can be copied as they are (else *fd is -1), and
 * *runs what is known of that file's holes.
 */
static int src_extent(struct img *s, uint64_t off, uint64_t max, uint64_t *len, bool *data,
		      int *fd, uint64_t *foff, struct runs **runs)
{
	*fd = -1;
	if (s->v) {
		struct vhdx_extent e;
		int r = vhdx_map(s->v, off, max, &e);
		if (r < 0)
			return r;
		*len = e.length;
		*data = e.kind == VHDX_EXTENT_DATA;
		if (*data && !s->no_direct && e.file_offset != UINT64_MAX &&
		    e.depth < VHDX_MAX_CHAIN) {
			if (!s->level_fd[e.depth])
				s->level_fd[e.depth] = open(path_at_depth(s->v, s->path, e.depth),
							    O_RDONLY | O_CLOEXEC);
			*fd = s->level_fd[e.depth] > 0 ? s->level_fd[e.depth] : -1;
			*foff = e.file_offset;
			*runs = &s->runs[e.depth];
		}
		return 0;
	}
	file_run(s->fd, &s->runs[0], off, off + max, len, data);
	return 0;
}

static int src_read(struct img *s, void *buf, size_t len, uint64_t off)
{
	if (s->v)
		return vhdx_read(s->v, buf, len, off);
	size_t got = 0;
	while (got < len) {
		ssize_t n = pread(s->fd, (char *)buf + got, len - got, (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) {
			memset((char *)buf + got, 0, len - got);
			break;
		}
		got += (size_t)n;
	}
	return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

static int dst_write(struct img *d, const uint8_t *buf, size_t len, uint64_t off)
{
	if (d->v)
		return vhdx_write(d->v, buf, len, off);
	while (len) {
		ssize_t n = pwrite(d->fd, buf, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

/* Write the non-zero 64 KiB pieces of BUF. */
static int copy_pieces(struct img *d, const uint8_t *buf, size_t len, uint64_t off)
{
	for (size_t i = 0; i < len;) {
		size_t n = len - i < PIECE ? len - i : PIECE;
		if (all_zero(buf + i, n)) {
			i += n;
			continue;
		}
		size_t j = i + n;
		while (j < len) {
			size_t m = len - j < PIECE ? len - j : PIECE;
			if (all_zero(buf + j, m))
				break;
			j += m;
		}
		int r = dst_write(d, buf + i, j - i, off + i);
		if (r < 0)
			return r;
		i = j;
	}
	return 0;
}

/*
 * Direct copies (no trip through user space) are gathered into batches, so that the source
 * of the next ones can be asked for (readahead) while one is copied.  One thread writes:
 * every write to the one output file takes its inode lock, so more writers only hand the
 * lock around (on tmpfs two were no faster than one on a quiet machine and slower on a busy
 * one); what they did overlap, reads of a source not in memory, the readahead does better
 * (1 GiB vhdx -> raw on ext4, cold: 1.4 s against 2.0-2.7 s with two threads).  On tmpfs a
 * second thread copies through a mapping, which does not take that lock (hv-img-mapcopy.c).
 * Mapping (which changes the image) stays serial.
 */
#define BATCH 256
#define READAHEAD (64u << 20)
#define PIPE_SIZE (1 << 20)

struct batch {
	struct img_job jobs[BATCH];
	size_t n;
	atomic_size_t next; /* the next job to claim, by this thread or the mapped copier */
	int pipe[2];        /* copies splice through it; -1: copy_file_range */
	bool no_splice;     /* a splice failed: not again */
	bool mapped;        /* a tmpfs output, 2 CPUs or more: the mapped copier may run */
	bool always_mapped; /* even when no CPU is idle (HVKIT_MAPCOPY=always, for tests) */
};

/* Open the pipe that copies splice through: 0, or -1 to use copy_file_range. */
static int pipe_make(struct batch *b)
{
	if (b->no_splice || pipe2(b->pipe, O_CLOEXEC) < 0) {
		b->pipe[0] = b->pipe[1] = -1;
		return -1;
	}
	(void)fcntl(b->pipe[1], F_SETPIPE_SZ, PIPE_SIZE); /* refused over the user's limit */
	return 0;
}

/*
 * On tmpfs copy_file_range splices through an internal pipe of 64 KiB: the output's inode
 * lock is taken and its times updated 16 times a MiB.  Through a pipe of our own of 1 MiB it
 * is once (vhdx -> raw: about 7% less time).  Elsewhere copy_file_range is kept: XFS and
 * Btrfs share blocks, NFS copies on the server, and on ext4 no gain was measured.  The
 * mapped copier, too, is for tmpfs only: elsewhere the file system's own copy does better.
 */
static void pipe_open(struct batch *b, const struct img *d)
{
	const char *env = getenv("HVKIT_MAPCOPY");
	struct statfs st;
	cpu_set_t cpus;

	b->pipe[0] = b->pipe[1] = -1;
	if ((d->fd >= 0 ? fstatfs(d->fd, &st) : statfs(d->path, &st)) == 0 &&
	    st.f_type == TMPFS_MAGIC) {
		(void)pipe_make(b);
		b->mapped = sched_getaffinity(0, sizeof(cpus), &cpus) == 0 && CPU_COUNT(&cpus) > 1;
	}
	b->always_mapped = b->mapped && env && strcmp(env, "always") == 0;
	b->mapped = b->mapped && !(env && strcmp(env, "never") == 0);
}


static void pipe_close(struct batch *b)
{
	for (int i = 0; i < 2; i++) {
		if (b->pipe[i] >= 0)
			close(b->pipe[i]);
		b->pipe[i] = -1;
	}
}

static int splice_out(int p, int out, loff_t *oo, size_t n)
{
	while (n) {
		ssize_t k = splice(p, NULL, out, oo, n, 0);
		if (k <= 0)
			return -1;
		n -= (size_t)k;
	}
	return 0;
}

/*
 * Copy the file bytes of J in the kernel; the range holds data (the holes were found before
 * queueing, so the output stays sparse).  -1 to fall back to reads and writes.
 */
static int copy_direct(struct batch *b, const struct img_job *j)
{
	loff_t io = (loff_t)j->in_off, oo = (loff_t)j->out_off;
	uint64_t len = j->len;

	while (b->pipe[0] >= 0 && len) {
		ssize_t n = splice(j->in, &io, b->pipe[1], NULL, len, 0);
		if (n <= 0 || splice_out(b->pipe[0], j->out, &oo, (size_t)n) < 0) {
			pipe_close(b); /* bytes may be left in it: no more splicing */
			b->no_splice = true;
			return -1;
		}
		len -= (uint64_t)n;
	}
	while (len) {
		ssize_t n = copy_file_range(j->in, &io, j->out, &oo, len, 0);
		if (n < 0 && errno == EXDEV && len == j->len && pipe_make(b) == 0)
			return copy_direct(b, j); /* across file systems: splice from now on */
		if (n <= 0)
			return -1;
		len -= (uint64_t)n;
	}
	return 0;
}

/* One job, in the kernel if it can, else through reads and writes. */
static int run_job(struct batch *b, struct img *s, struct img *d, uint8_t *buf,
		   const struct img_job *j)
{
	if (copy_direct(b, j) == 0)
		return 0;
	int r = src_read(s, buf, (size_t)j->len, j->voff);
	if (r == 0)
		r = d->v ? dst_write(d, buf, (size_t)j->len, j->voff)
			 : copy_pieces(d, buf, (size_t)j->len, j->voff);
	return r;
}

/*
 * Run the batch, claiming jobs in order (the mapped copier, where it runs, claims some of
 * them), READAHEAD bytes of it asked for ahead of the copy (advice only; nothing to do where
 * the pages are in memory).  When this returns every job is copied, or it failed.
 */
static int run_batch(struct batch *b, struct img *s, struct img *d, uint8_t *buf)
{
	struct img_mapcopy mc;
	uint64_t asked = 0; /* bytes of jobs [done, ahead) */
	size_t ahead = 0, done = 0, i;
	int r = 0;

	atomic_store(&b->next, 0);
	bool helped = b->mapped && b->n > 1 &&
		      img_mapcopy_start(&mc, b->jobs, b->n, &b->next, b->always_mapped);
	while (r == 0 && (i = atomic_fetch_add(&b->next, 1)) < b->n) {
		for (; done < i; done++)
			asked -= done < ahead ? b->jobs[done].len : 0;
		for (ahead = ahead > i ? ahead : i; ahead < b->n && asked < READAHEAD; ahead++) {
			const struct img_job *a = &b->jobs[ahead];
			(void)posix_fadvise(a->in, (off_t)a->in_off, (off_t)a->len,
					    POSIX_FADV_WILLNEED);
			asked += a->len;
		}
		r = run_job(b, s, d, buf, &b->jobs[i]);
	}
	if (r < 0)
		atomic_store(&b->next, b->n); /* the copier stops after its current job */
	if (helped && !img_mapcopy_join(&mc))
		b->mapped = false; /* it failed once: not again */
	for (i = 0; helped && i < b->n && r == 0; i++)
		if (b->jobs[i].redo)
			r = run_job(b, s, d, buf, &b->jobs[i]);
	b->n = 0;
	return r;
}

static int queue(struct batch *b, struct img *s, struct img *d, uint8_t *buf,
		 struct img_job j)
{
	b->jobs[b->n++] = j;
	return b->n == BATCH ? run_batch(b, s, d, buf) : 0;
}

/* The data runs of FD's bytes [foff, foff + len), at OFF in the raw DST; holes stay holes. */
static int queue_runs(struct batch *b, struct img *s, struct img *d, uint8_t *buf, int fd,
		      struct runs *c, uint64_t foff, uint64_t off, uint64_t len)
{
	uint64_t n;
	int r = 0;

	for (uint64_t at = 0; at < len && r == 0; at += n) {
		bool data;
		file_run(fd, c, foff + at, foff + len, &n, &data);
		if (data)
			r = queue(b, s, d, buf, (struct img_job){ fd, d->fd, foff + at, off + at,
								  n, off + at, false });
	}
	return r;
}

/* An output, readable too where it may be (the mapped copier maps it). */
static int open_out(const char *path, int flags)
{
	int fd = open(path, O_RDWR | O_CLOEXEC | flags, 0644);

	return fd < 0 && errno == EACCES ? open(path, O_WRONLY | O_CLOEXEC | flags, 0644) : fd;
}

/*
 * Raw data straight into the blocks of a new VHDX: every block of a new image reads as zeros,
 * so holes of the source can stay unwritten.  1: not possible here, use reads and writes.
 */
static int queue_into(struct batch *b, struct img *s, struct img *d, uint8_t *buf, uint64_t off,
		      uint64_t len)
{
	int r = 0;

	if (d->level_fd[0] == 0)
		d->level_fd[0] = open_out(d->path, 0);
	if (d->level_fd[0] < 0)
		return 1;
	while (len && r == 0) {
		uint64_t foff, n;
		r = vhdx_write_map(d->v, off, len, &foff, &n);
		if (r == 0)
			r = queue(b, s, d, buf, (struct img_job){ s->fd, d->level_fd[0], off,
								  foff, n, off, false });
		off += n;
		len -= n;
	}
	return r;
}

static int copy(struct img *s, struct img *d, bool progress)
{
	uint8_t *buf = malloc(CHUNK);
	struct batch *b = calloc(1, sizeof(*b));
	uint64_t off = 0;
	int r = 0;

	if (!buf || !b) {
		free(buf);
		free(b);
		return -ENOMEM;
	}
	pipe_open(b, d);
	while (off < s->size && r == 0) {
		uint64_t len, foff = 0;
		struct runs *runs = NULL;
		bool data;
		int fd;
		r = src_extent(s, off, s->size - off < CHUNK ? s->size - off : CHUNK, &len, &data,
			       &fd, &foff, &runs);
		if (r < 0)
			break;
		if (data && fd >= 0 && !d->v) {
			r = queue_runs(b, s, d, buf, fd, runs, foff, off, len);
		} else if (data && !s->v && d->v && (r = queue_into(b, s, d, buf, off, len)) <= 0) {
			/* queued (or failed) */
		} else if (data) {
			r = src_read(s, buf, (size_t)len, off);
			if (r == 0)
				r = copy_pieces(d, buf, (size_t)len, off);
		}
		off += len;
		if (b->n == 0)
			img_progress(progress, off, s->size);
	}
	if (r == 0)
		r = run_batch(b, s, d, buf);
	img_progress(progress && r == 0, s->size, s->size);
	pipe_close(b);
	free(b);
	free(buf);
	return r;
}

/*
 * Takes an exclusive flock on fd, an output about to be truncated or replaced, so that an
 * image another program holds (hvd holds a pool's golden image with a shared one, libvhdx
 * writers take an exclusive one) is refused instead of overwritten. Where the file system
 * has no flock nobody can hold one either: the output is used. IMG_ERR when refused.
 */
static int out_claim(int fd, const char *path)
{
	if (flock(fd, LOCK_EX | LOCK_NB) == 0 || errno != EWOULDBLOCK)
		return 0;
	return img_error(0, "%s is in use by another program, which holds a lock on it: "
			 "not overwritten", path);
}

static int open_dst(const char *path, const char *fmt, const char *opts, struct img *s,
		    struct img *d)
{
	memset(d, 0, sizeof(*d));
	d->fd = -1;
	d->size = s->size;
	d->path = path;
	if (strcmp(fmt, "raw") == 0) {
		/* Emptied only once it is ours (the lock stays with d->fd until the end). */
		d->fd = open_out(path, O_CREAT);
		if (d->fd < 0)
			return img_error(-errno, "%s", path);
		if (out_claim(d->fd, path))
			return IMG_ERR;
		if (ftruncate(d->fd, 0) < 0 || ftruncate(d->fd, (off_t)s->size) < 0)
			return img_error(-errno, "%s", path);
		return 0;
	}
	if (strcmp(fmt, "vhdx") != 0)
		return img_error(0, "unknown output format '%s' (raw or vhdx)", fmt);
	struct vhdx_create_opts o = { .type = VHDX_TYPE_DYNAMIC };
	if (opts && img_parse_create_opts(opts, &o) < 0)
		return IMG_ERR;
	uint32_t lss = o.logical_sector_size ? o.logical_sector_size : 512;
	o.size = (s->size + lss - 1) / lss * lss;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = fd >= 0 ? out_claim(fd, path) : 0;

	if (r == 0 && unlink(path) < 0 && errno != ENOENT)
		r = img_error(-errno, "%s", path);
	if (fd >= 0)
		close(fd);
	if (r)
		return IMG_ERR;
	r = vhdx_create(path, &o);
	if (r < 0)
		return img_error(r, "%s", path);
	return img_open(path, VHDX_OPEN_RDWR, &d->v) < 0 ? IMG_ERR : 0;
}

int img_cmd_convert(int argc, char **argv)
{
	const char *ofmt = "raw", *ifmt = NULL, *opts = NULL;
	struct img s, d;
	bool progress = true; /* shown only when stdout is a terminal */
	int c, r;

	while ((c = getopt(argc, argv, "f:O:o:pq")) != -1) {
		switch (c) {
		case 'f': ifmt = optarg; break;
		case 'O': ofmt = optarg; break;
		case 'o': opts = optarg; break;
		case 'p': progress = true; break;
		case 'q': progress = false; break;
		default:
			return img_error(0, "usage: hv-img convert [-p] [-f FMT] [-O raw|vhdx] "
					 "[-o OPTIONS] SRC DST");
		}
	}
	if (optind != argc - 2)
		return img_error(0, "usage: hv-img convert [-p] [-O raw|vhdx] [-o OPTIONS] SRC DST");
	if (src_open(argv[optind], ifmt, &s))
		return IMG_ERR;
	if (open_dst(argv[optind + 1], ofmt, opts, &s, &d)) {
		img_release(&s);
		img_release(&d);
		return IMG_ERR;
	}
	r = copy(&s, &d, progress);
	if (r < 0)
		img_error(r, "convert %s: %s", argv[optind], s.v ? vhdx_why(s.v) : "");
	if (d.v) {
		int rc = vhdx_close(d.v);
		d.v = NULL;
		if (r == 0 && rc < 0)
			r = img_error(rc, "%s", argv[optind + 1]);
	} else if (r == 0 && fsync(d.fd) < 0) {
		r = img_error(-errno, "%s", argv[optind + 1]);
	}
	img_release(&s);
	img_release(&d);
	return r ? IMG_ERR : IMG_OK;
}

static const char *path_at_depth(const struct vhdx *v, const char *top, unsigned depth)
{
	/* the paths a chain resolved to are relative to the working directory, like TOP */
	const char *p = top;

	for (unsigned i = 0; i < depth && v; i++) {
		struct vhdx_info info;
		if (vhdx_info_get(v, &info) < 0)
			return "?";
		p = info.parent_path;
		v = vhdx_parent_get(v);
	}
	return p ? p : "?";
}

int img_cmd_map(int argc, char **argv)
{
	static const struct option lo[] = { { "output", required_argument, NULL, 'O' },
					    { NULL, 0, NULL, 0 } };
	struct vhdx_extent cur = { 0 }, e;
	struct vhdx_info info;
	struct vhdx *v;
	bool json = false, first = true, have = false;
	int c, r = 0;

	while ((c = getopt_long(argc, argv, "f:", lo, NULL)) != -1)
		if (c == 'O')
			json = strcmp(optarg, "json") == 0;
	if (optind != argc - 1)
		return img_error(0, "usage: hv-img map [--output human|json] FILE");
	if (img_open(argv[optind], 0, &v) < 0 || vhdx_info_get(v, &info) < 0)
		return IMG_ERR;
	if (json)
		printf("[");
	else
		printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to", "File");
	for (uint64_t off = 0; off <= info.virtual_size; off += e.length) {
		bool end = off == info.virtual_size;
		if (!end && (r = vhdx_map(v, off, info.virtual_size - off, &e)) < 0)
			break;
		if (!end && have && e.kind == cur.kind && e.depth == cur.depth &&
		    (e.kind == VHDX_EXTENT_ZERO || cur.file_offset + cur.length == e.file_offset)) {
			cur.length += e.length;
			continue;
		}
		if (have && json) {
			printf("%s\n{ \"start\": %llu, \"length\": %llu, \"depth\": %u, "
			       "\"present\": %s, \"zero\": %s, \"data\": %s",
			       first ? "" : ",", (unsigned long long)cur.offset,
			       (unsigned long long)cur.length, cur.depth,
			       cur.kind == VHDX_EXTENT_DATA ? "true" : "false",
			       cur.kind == VHDX_EXTENT_ZERO ? "true" : "false",
			       cur.kind == VHDX_EXTENT_DATA ? "true" : "false");
			if (cur.kind == VHDX_EXTENT_DATA)
				printf(", \"offset\": %llu", (unsigned long long)cur.file_offset);
			printf("}");
			first = false;
		} else if (have && cur.kind == VHDX_EXTENT_DATA) {
			printf("0x%-14llx0x%-14llx0x%-14llx%s\n", (unsigned long long)cur.offset,
			       (unsigned long long)cur.length, (unsigned long long)cur.file_offset,
			       path_at_depth(v, argv[optind], cur.depth));
		}
		if (end)
			break;
		cur = e;
		have = true;
	}
	if (json)
		printf("\n]\n");
	if (r < 0)
		img_error(r, "%s: %s", argv[optind], vhdx_why(v));
	vhdx_free(v);
	return r < 0 ? IMG_ERR : IMG_OK;
}
