/*
 * Payload I/O that never waits for a disk (vhdx_readv_nowait, vhdx_writev_nowait), for callers
 * on threads that must not block (hv-worker's vCPUs); split from io.c.
 */
#include "config.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "formats/vhdx/vhdx-internal.h"

/*
 * Non-blocking payload I/O (vhdx_readv_nowait, vhdx_writev_nowait): only what needs no
 * metadata I/O and no allocation, with the file I/O itself refused by the kernel when it
 * would wait (RWF_NOWAIT: data not in the page cache, a lock held).
 */
#define NOWAIT_IOV 256

/* The part [pos, pos + n) of IOV in SUB (at most NOWAIT_IOV entries); its entry count. */
static int iov_slice(const struct iovec *iov, int iovcnt, size_t pos, size_t n,
		     struct iovec *sub)
{
	int k = 0;

	for (int i = 0; i < iovcnt && n; i++) {
		if (pos >= iov[i].iov_len) {
			pos -= iov[i].iov_len;
			continue;
		}
		size_t take = iov[i].iov_len - pos < n ? iov[i].iov_len - pos : n;
		sub[k].iov_base = (uint8_t *)iov[i].iov_base + pos;
		sub[k].iov_len = take;
		k++;
		n -= take;
		pos = 0;
	}
	return k;
}

/* Could file bytes [off, off + n) of V read differently through vhdx_pread (an in-memory
 * log replay, metadata not yet committed, past the end)? Then the caller must not go around. */
static bool file_overlaid(const struct vhdx *v, uint64_t off, size_t n)
{
	if (v->nov || off > v->file_size || n > v->file_size - off)
		return true;
	for (size_t i = 0; i < v->npending; i++)
		if (v->pending[i].offset < off + n && off < v->pending[i].offset + 4096)
			return true;
	return false;
}

/* The kernel's answers to RWF_NOWAIT: EAGAIN it would block; EOPNOTSUPP (and, for buffered
 * writes on older kernels, EINVAL) the file system does not do it without blocking. */
static int nowait_errno(int e)
{
	if (e == EAGAIN || e == EWOULDBLOCK || e == EINTR)
		return -EAGAIN;
	if (e == EOPNOTSUPP || e == EINVAL || e == ENOSYS)
		return -EOPNOTSUPP;
	return -e;
}

/*
 * The tmpfs rule. tmpfs refuses RWF_NOWAIT, yet when the host has no active swap the pages of
 * a tmpfs file can only be in RAM: a read of it is a copy from the page cache, or zeros for a
 * hole (a read never fills one in), with no disk anywhere below. So on tmpfs, without swap, a
 * read is a plain preadv. An overwrite of pages that exist is the same copy the other way:
 * tmpfs has no block allocation, no journal and no writeback, and the inode lock it takes is
 * only held by other writers of the file (the flock keeps other processes' libvhdx out, and
 * calls on one image are not concurrent). A write over a hole would allocate a page, and
 * allocation may wait in reclaim: such a range is -EAGAIN. Which pages exist is asked of
 * mincore() through a PROT_NONE shared map of the file that is never touched (a page table
 * walk over the range; lseek SEEK_HOLE would scan to the next hole, the whole rest of a dense
 * file; mincore answers truly because the file is open for writing). The map has room to grow; a write past it is -EAGAIN, and vhdx_write, on the
 * blocking path, maps the file again. What may still wait is a page lock held for a moment
 * by migration or khugepaged: CPU work, never I/O.
 *
 * With swap, pages may be out on it and a read would wait for the disk: the rule is off and
 * RWF_NOWAIT decides, as on any file system. /proc/swaps is read when the image is opened (no
 * line after its header: no swap); since swap can be turned on later, the nowait calls look
 * again at most once a second, with sysinfo()'s totalswap (the same swap areas, counted under
 * a spinlock, while reading /proc/swaps takes swapon_mutex, which swapon and swapoff hold;
 * sysinfo costs about 0.5 us, too much for every request). A swap area turned on less than a
 * second before may thus find the rule still on until that next look.
 */
#define SWAP_RECHECK_NS 1000000000ull

static uint64_t coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Does /proc/swaps list a swap area (a line after its header)? Unreadable counts as yes. */
static bool swaps_listed(void)
{
	int fd = open("/proc/swaps", O_RDONLY | O_CLOEXEC);
	bool header = true, listed = false;
	char b[256];
	ssize_t n;

	if (fd < 0)
		return true;
	while (!listed && (n = read(fd, b, sizeof(b))) > 0)
		for (ssize_t i = 0; i < n && !listed; i++) {
			listed = !header;
			header = header && b[i] != '\n';
		}
	if (!listed && n < 0)
		listed = true;
	close(fd);
	return listed;
}

void vhdx_swap_probe(struct vhdx *v)
{
	if (!v->chain_tmpfs)
		return;
	v->no_swap = !swaps_listed();
	v->swap_ns = coarse_ns();
}

#define PAGES_ROOM (1ull << 30)

void vhdx_pages_map(struct vhdx *v)
{
	uint64_t need = v->alloc_end > v->file_size ? v->alloc_end : v->file_size;
	struct stat st;
	void *m;

	if (!v->tmpfs || !(v->flags & VHDX_OPEN_RDWR) || v->depth || need <= v->pages_len)
		return;
	/* mincore() tells the truth about a file's pages only to its owner (or a privileged
	 * caller, or one who may write it now): otherwise it says every page is there. */
	if (fstat(v->fd, &st) < 0 || (st.st_uid != geteuid() && geteuid() != 0))
		return;
	need = (need + 2 * PAGES_ROOM - 1) & ~(PAGES_ROOM - 1);
	m = mmap(NULL, need, PROT_NONE, MAP_SHARED, v->fd, 0);
	if (m == MAP_FAILED)
		return; /* the old map, or none: writes past it are -EAGAIN */
	if (v->pages)
		munmap(v->pages, v->pages_len);
	v->pages = m;
	v->pages_len = need;
}

/* Pages mincore() once found stay known: only this handle's own hole punches and truncations
 * (vhdx_pages_forget) take pages from a tmpfs file without swap, the flock keeping other
 * libvhdx writers out. So a page is asked of the kernel once, not at every write (a mincore
 * call costs about as much as the 4 KiB write it guards). */
#define PRESENT_CHUNK (1u << 15) /* pages per bitmap: 4 KiB of bits, 128 MiB of file */

void vhdx_pages_forget(struct vhdx *v)
{
	for (size_t i = 0; i < v->npresent; i++)
		free(v->present[i]);
	free(v->present);
	v->present = NULL;
	v->npresent = 0;
}

static bool page_known(const struct vhdx *v, uint64_t page)
{
	uint64_t c = page / PRESENT_CHUNK, bit = page % PRESENT_CHUNK;

	return c < v->npresent && v->present[c] && (v->present[c][bit / 64] >> (bit % 64) & 1);
}

/* Remember page FIRST + i as existing wherever VEC[i] says it is resident, i < N; out of
 * memory, pages are simply asked again. */
static void pages_known(struct vhdx *v, uint64_t first, const unsigned char *vec, uint64_t n)
{
	uint64_t need = (first + n - 1) / PRESENT_CHUNK + 1;

	if (need > v->npresent) {
		uint64_t **p = realloc(v->present, need * sizeof(*p));

		if (!p)
			return;
		memset(p + v->npresent, 0, (need - v->npresent) * sizeof(*p));
		v->present = p;
		v->npresent = need;
	}
	for (uint64_t i = 0; i < n; i++) {
		uint64_t c = (first + i) / PRESENT_CHUNK, bit = (first + i) % PRESENT_CHUNK;

		if (!(vec[i] & 1))
			continue;
		if (!v->present[c] && !(v->present[c] = calloc(PRESENT_CHUNK / 64, 8)))
			return;
		v->present[c][bit / 64] |= 1ull << (bit % 64);
	}
}

/* Does every page of [AT, AT + N) of V's file exist? A page not yet known is asked of mincore()
 * with the aligned window of PROBE pages around it, so a dense file costs one call per window. */
#define PROBE 256u

static bool pages_exist(struct vhdx *v, uint64_t at, size_t n)
{
	uint64_t pg = (uint64_t)getpagesize(), first = at / pg, last = (at + n + pg - 1) / pg, i;
	uint64_t lo, hi, map_pages = v->pages_len / pg;
	unsigned char vec[PROBE];

	if (!v->pages || at + n > v->pages_len)
		return false;
	for (i = first; i < last; i++) {
		if (page_known(v, i))
			continue;
		lo = i / PROBE * PROBE;
		hi = lo + PROBE < map_pages ? lo + PROBE : map_pages;
		if (mincore((uint8_t *)v->pages + lo * pg, (hi - lo) * pg, vec) < 0)
			return false;
		pages_known(v, lo, vec, hi - lo);
		if (!(vec[i - lo] & 1))
			return false;
	}
	return true;
}

/* May a nowait call on TOP use the tmpfs rule now? */
static bool swapless(struct vhdx *top)
{
	struct sysinfo si;
	uint64_t now;

	if (!top->chain_tmpfs)
		return false;
	now = coarse_ns();
	if (now - top->swap_ns >= SWAP_RECHECK_NS) {
		top->no_swap = sysinfo(&si) == 0 && si.totalswap == 0;
		top->swap_ns = now;
	}
	return top->no_swap;
}

static void iov_zero(const struct iovec *iov, int iovcnt, size_t pos, size_t n)
{
	for (int i = 0; i < iovcnt && n; i++) {
		if (pos >= iov[i].iov_len) {
			pos -= iov[i].iov_len;
			continue;
		}
		size_t take = iov[i].iov_len - pos < n ? iov[i].iov_len - pos : n;
		memset((uint8_t *)iov[i].iov_base + pos, 0, take);
		n -= take;
		pos = 0;
	}
}

/* N bytes of V's file at AT to or from the part of IOV from POS, in the page cache only (or,
 * RAM set and V on tmpfs, by the tmpfs rule). A short transfer is -EAGAIN: part of it was
 * not cached (a write's rest then goes through vhdx_write, which writes it all again). */
static int file_nowait(struct vhdx *v, const struct iovec *iov, int iovcnt, size_t pos,
		       size_t n, uint64_t at, bool write, bool ram)
{
	struct iovec sub[NOWAIT_IOV];
	int k = iov_slice(iov, iovcnt, pos, n, sub);
	ssize_t done;

	if (file_overlaid(v, at, n))
		return -EAGAIN;
	if (ram && v->tmpfs) {
		if (write && !pages_exist(v, at, n))
			return -EAGAIN; /* the write would allocate */
		/* one piece (the common case: guest pages are one host range) as pread/pwrite,
		 * which the kernel does a good deal faster than a one-entry preadv/pwritev */
		if (k == 1)
			done = write ? pwrite(v->fd, sub[0].iov_base, sub[0].iov_len, (off_t)at)
				     : pread(v->fd, sub[0].iov_base, sub[0].iov_len, (off_t)at);
		else
			done = write ? pwritev(v->fd, sub, k, (off_t)at)
				     : preadv(v->fd, sub, k, (off_t)at);
	} else {
		done = write ? pwritev2(v->fd, sub, k, (off_t)at, RWF_NOWAIT)
			     : preadv2(v->fd, sub, k, (off_t)at, RWF_NOWAIT);
	}
	if (done < 0)
		return nowait_errno(errno);
	return (size_t)done == n ? 0 : -EAGAIN;
}

/* Can V's BAT entry IDX be read without waiting? A shared parent's BAT is a mapping of its
 * file (VHDX_OPEN_MAP_BAT), whose pages the kernel may have dropped: then reading the entry
 * would fault it in from the disk. A file on tmpfs without swap is always in memory. */
static bool bat_entry_ready(const struct vhdx *v, uint64_t idx, bool ram)
{
	uintptr_t pg = (uintptr_t)getpagesize();
	unsigned char vec = 0;

	if (!v->bat_map_len || (ram && v->tmpfs))
		return true;
	return mincore((void *)((uintptr_t)&v->bat[idx] & ~(pg - 1)), pg, &vec) == 0 && (vec & 1);
}

/* As vhdx_read: each piece goes down the chain, without recursion, to the image that
 * holds it (clipped to that image's block and to its parent's size). */
static int readv_chain(struct vhdx *top, const struct iovec *iov, int iovcnt, size_t len,
		       uint64_t off)
{
	bool ram = swapless(top);
	size_t pos = 0;

	while (pos < len) {
		struct vhdx *v = top;
		size_t n = len - pos;
		bool zeros = false;
		uint32_t within;
		uint64_t e, idx;
		int r = 0;

		for (;;) {
			within = (uint32_t)(off % v->block_size);
			if (n > v->block_size - within)
				n = v->block_size - within;
			idx = vhdx_bat_index(v, off / v->block_size);
			if (!bat_entry_ready(v, idx, ram))
				return -EAGAIN;
			e = v->bat[idx];
			if (BAT_STATE(e) != PAYLOAD_NOT_PRESENT || !v->has_parent)
				break;
			if (!v->parent)
				return -EAGAIN; /* vhdx_read says why */
			if (off >= v->parent->virtual_size) {
				zeros = true; /* a child larger than its parent */
				break;
			}
			if (n > v->parent->virtual_size - off)
				n = (size_t)(v->parent->virtual_size - off);
			v = v->parent;
		}
		if (!zeros && BAT_STATE(e) == PAYLOAD_FULLY_PRESENT)
			r = file_nowait(v, iov, iovcnt, pos, n, BAT_OFFSET(e) + within, false,
					ram);
		else if (!zeros && BAT_STATE(e) == PAYLOAD_PARTIALLY_PRESENT)
			r = -EAGAIN; /* the sector bitmap is read from the file */
		else
			iov_zero(iov, iovcnt, pos, n);
		if (r < 0)
			return r;
		pos += n;
		off += n;
	}
	return 0;
}

static int iov_total(const struct iovec *iov, int iovcnt, size_t *len)
{
	size_t t = 0;

	if (iovcnt < 0 || iovcnt > NOWAIT_IOV)
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > SIZE_MAX - t)
			return -EINVAL;
		t += iov[i].iov_len;
	}
	*len = t;
	return 0;
}

int vhdx_readv_nowait(struct vhdx *v, const struct iovec *iov, int iovcnt, uint64_t off)
{
	size_t len;
	int r = iov_total(iov, iovcnt, &len);

	if (r < 0)
		return r;
	if (off > v->virtual_size || len > v->virtual_size - off)
		return -EINVAL;
	return readv_chain(v, iov, iovcnt, len, off);
}

int vhdx_writev_nowait(struct vhdx *v, const struct iovec *iov, int iovcnt, uint64_t off)
{
	size_t len, pos = 0;
	int r = iov_total(iov, iovcnt, &len);
	bool ram;

	if (r < 0)
		return r;
	if (!(v->flags & VHDX_OPEN_RDWR) || off > v->virtual_size || len > v->virtual_size - off)
		return -EINVAL;
	/* The session's header update (a new DataWriteGuid) goes before any data: vhdx_write. */
	if (!v->session || !v->data_changed)
		return -EAGAIN;
	/* Every block first: nothing is written unless all of it can be. */
	for (uint64_t o = off; o < off + len; o = (o / v->block_size + 1) * v->block_size)
		if (BAT_STATE(v->bat[vhdx_bat_index(v, o / v->block_size)]) != PAYLOAD_FULLY_PRESENT)
			return -EAGAIN;
	ram = swapless(v);
	while (pos < len) {
		uint64_t block = off / v->block_size;
		uint32_t within = (uint32_t)(off % v->block_size);
		size_t n = v->block_size - within < len - pos ? v->block_size - within : len - pos;
		uint64_t at = BAT_OFFSET(v->bat[vhdx_bat_index(v, block)]) + within;

		r = file_nowait(v, iov, iovcnt, pos, n, at, true, ram);
		if (r < 0)
			return r;
		pos += n;
		off += n;
	}
	return 0;
}
