/*
 * libvhdx: the VHDX virtual disk format (MS-VHDX v1.0), read and write, fixed, dynamic and
 * differencing images.  libc only; no printing, no exit, no globals.
 *
 * Every function returns 0 or a negative errno.  -EBADMSG means the file is corrupt (a bad
 * signature or checksum, an offset outside the file, an impossible field), -ENOTSUP a valid
 * feature this library does not handle, -E2BIG a size over a format limit, -ENOENT a parent
 * that cannot be found, -ESTALE a parent whose DataWriteGuid does not match the child's
 * locator.  A sentence naming what is wrong is available from vhdx_open_detail() for open
 * failures and from vhdx_why() for failures on an open handle.
 *
 * Ownership: vhdx_open() hands out a handle that the caller releases with vhdx_close() (which
 * flushes and reports errors) or vhdx_free() (best effort, for error paths).  A differencing
 * image owns its parent chain.
 */
#ifndef HVKIT_VHDX_H
#define HVKIT_VHDX_H

#include <stddef.h>
#include <stdint.h>

#define VHDX_MUST_CHECK __attribute__((warn_unused_result))

#define VHDX_KIB 1024ull
#define VHDX_MIB (1024ull * 1024)
#define VHDX_GIB (1024ull * 1024 * 1024)
#define VHDX_TIB (1024ull * 1024 * 1024 * 1024)
#define VHDX_MAX_SIZE (64 * VHDX_TIB)
#define VHDX_MAX_CHAIN 64

/* Hyper-V's VhdType numbers. */
enum vhdx_type {
	VHDX_TYPE_FIXED = 2,
	VHDX_TYPE_DYNAMIC = 3,
	VHDX_TYPE_DIFFERENCING = 4,
};

/* vhdx_open() flags */
#define VHDX_OPEN_RDWR 0x1u      /* read-write (one writer: -EBUSY if locked); a dirty log is
				    replayed into the file */
#define VHDX_OPEN_NO_PARENT 0x2u /* do not open the parent; reads that need it fail -ENOENT */
#define VHDX_OPEN_NO_REPLAY 0x4u /* read-only: fail with -EBUSY instead of replaying in memory */
#define VHDX_OPEN_SHARE_PARENTS 0x8u /* the parents' BATs are mapped from their files (read-only,
				       shared), not copied: many processes reading one parent share
				       one copy in the page cache. The parent must not be truncated
				       while open (a reader would get SIGBUS): hold it locked. */

struct vhdx;

struct vhdx_guid {
	uint8_t b[16]; /* as stored on disk (mixed-endian) */
};

struct vhdx_info {
	enum vhdx_type type;
	uint64_t virtual_size;
	uint32_t block_size;
	uint32_t logical_sector_size;
	uint32_t physical_sector_size;
	uint64_t file_size;          /* bytes of the file on disk */
	uint64_t header_sequence;
	struct vhdx_guid disk_id;    /* Virtual Disk ID (SCSI page 83) */
	struct vhdx_guid data_write_guid;
	struct vhdx_guid file_write_guid;
	struct vhdx_guid log_guid;
	uint64_t log_offset;
	uint32_t log_length;
	uint64_t bat_offset, metadata_offset;
	uint32_t bat_length, metadata_length;
	uint64_t blocks;             /* payload blocks */
	uint64_t blocks_allocated;   /* payload blocks backed by this file */
	int log_replayed;            /* 1: a dirty log was replayed on open */
	char creator[256];           /* File Type Identifier creator, UTF-8 */
	const char *parent_path;     /* resolved parent, borrowed; NULL without one */
};

struct vhdx_create_opts {
	enum vhdx_type type;         /* fixed, dynamic or differencing */
	uint64_t size;               /* virtual size; 0 with a parent: the parent's */
	uint32_t block_size;         /* 0: 32 MiB (2 MiB for fixed and differencing) */
	uint32_t logical_sector_size;  /* 0: 512, or the parent's */
	uint32_t physical_sector_size; /* 0: 4096, or the parent's */
	const char *parent;          /* differencing: path of the parent */
};

/* What backs a byte range, for map/convert. */
enum vhdx_extent_kind {
	VHDX_EXTENT_ZERO = 0,  /* reads as zeros without data in any file of the chain */
	VHDX_EXTENT_DATA = 1,  /* data in image `depth` of the chain (0 = this image) */
};

struct vhdx_extent {
	uint64_t offset, length;
	enum vhdx_extent_kind kind;
	unsigned depth;
	uint64_t file_offset;     /* DATA: offset in that file, or UINT64_MAX if mixed */
};

/* Open PATH; see the flags above.  On failure *out is NULL. */
VHDX_MUST_CHECK int vhdx_open(const char *path, unsigned flags, struct vhdx **out);
/* The same; on failure WHY (if not NULL) receives a sentence naming what is wrong. */
VHDX_MUST_CHECK int vhdx_open_detail(const char *path, unsigned flags, struct vhdx **out,
				     char *why, size_t why_len);
/* The detail of the last failure on V (borrowed, "" if none). */
const char *vhdx_why(const struct vhdx *v);
/* Flush (read-write), mark the log clean and release everything, the parents too. */
VHDX_MUST_CHECK int vhdx_close(struct vhdx *v);
/* Release without reporting errors; vhdx_free(NULL) is a no-op. */
void vhdx_free(struct vhdx *v);

VHDX_MUST_CHECK int vhdx_info_get(const struct vhdx *v, struct vhdx_info *out);
/* The parent image, borrowed, or NULL. */
const struct vhdx *vhdx_parent_get(const struct vhdx *v);
/* Parent locator entries (UTF-8, borrowed); returns -ENOENT past the last. */
VHDX_MUST_CHECK int vhdx_locator_entry(const struct vhdx *v, size_t i, const char **key,
				       const char **value);

/* Read or write LEN bytes at virtual offset OFF; the range must lie inside the disk. */
VHDX_MUST_CHECK int vhdx_read(struct vhdx *v, void *buf, size_t len, uint64_t off);
VHDX_MUST_CHECK int vhdx_write(struct vhdx *v, const void *buf, size_t len, uint64_t off);
/*
 * For writers that move bytes themselves (copy_file_range into the image file): make the
 * block holding OFF present in this file, keeping what it reads as, and give the file offset
 * of OFF and how many bytes from there stay in that block (at most LEN).  The caller writes
 * the file and then calls vhdx_flush() as after vhdx_write().
 */
VHDX_MUST_CHECK int vhdx_write_map(struct vhdx *v, uint64_t off, uint64_t len,
				   uint64_t *file_off, uint64_t *n);
/* Make every acknowledged write durable: data, then the BAT through the log (MS-VHDX 2.3). */
VHDX_MUST_CHECK int vhdx_flush(struct vhdx *v);
/* Return a range to "reads as zeros" (dynamic: blocks fully covered are released). */
VHDX_MUST_CHECK int vhdx_discard(struct vhdx *v, uint64_t off, uint64_t len);

/* The extent that starts at OFF (clipped to the block that holds it and to LEN). */
VHDX_MUST_CHECK int vhdx_map(struct vhdx *v, uint64_t off, uint64_t len,
			     struct vhdx_extent *out);

/* Create a new image; fails with -EEXIST if PATH exists. */
VHDX_MUST_CHECK int vhdx_create(const char *path, const struct vhdx_create_opts *opts);

/* Consistency check.  Every problem found is passed to REPORT (may be NULL); with REPAIR set
 * (and a read-write handle) fixable ones are fixed; OUT counts them. */
struct vhdx_check_result {
	unsigned errors;     /* corruptions found */
	unsigned fixed;      /* of those, repaired */
	unsigned leaks;      /* allocated space no BAT entry uses */
	uint64_t allocated;  /* payload blocks in use */
};
typedef void (*vhdx_report_fn)(void *opaque, const char *problem);
VHDX_MUST_CHECK int vhdx_check(struct vhdx *v, int repair, vhdx_report_fn report, void *opaque,
			       struct vhdx_check_result *out);

/* Change the virtual size (grow; shrink only when the cut-off range holds no data: -ENOTEMPTY). */
VHDX_MUST_CHECK int vhdx_resize(struct vhdx *v, uint64_t new_size);
/* Copy every sector V itself holds into its parent (opened read-write). */
VHDX_MUST_CHECK int vhdx_merge_into_parent(const char *child_path);
/* The same, but the merged parent then takes the child's place: it gets the child's
 * DataWriteGuid and is renamed over the child's path, so the child's own children keep
 * opening (checkpoint removal in the middle of a chain). The parent must have no other child. */
VHDX_MUST_CHECK int vhdx_merge_into_parent_replace(const char *child_path);
/* Release payload blocks that read as all zeros; *released counts them. */
VHDX_MUST_CHECK int vhdx_compact(struct vhdx *v, uint64_t *released);

/* GUID helpers. */
void vhdx_guid_format(const struct vhdx_guid *g, char buf[39]); /* "{xxxxxxxx-...}" lowercase */
VHDX_MUST_CHECK int vhdx_guid_parse(const char *s, struct vhdx_guid *out);

/*
 * Payload I/O that never waits for the disk, for callers that must not block (a vCPU thread
 * serving a guest's request inline, the blocking path kept for a worker thread): the same as
 * vhdx_read()/vhdx_write() from or into IOV (at most 256 entries), but done only when nothing
 * but the payload is touched and the kernel can do it from the page cache (preadv2/pwritev2
 * with RWF_NOWAIT; on tmpfs while the host has no swap, plain preadv/pwritev, as its pages
 * are then always in RAM: io.c gives the rule).  Reads: every byte in a block of the chain
 * that is fully present, or reading as zeros.  Writes: every block already fully present in
 * V itself, V's write session already begun (by an earlier vhdx_write()); no BAT entry,
 * bitmap, header or log is touched.
 * -EAGAIN: it would block or needs more than that (on tmpfs, a write over a hole in the
 * file): use vhdx_read()/vhdx_write() (a read's buffers then hold anything; part of a write
 * may be in the file, which the full write makes whole).  -EOPNOTSUPP: the file system does
 * not do this operation without blocking (tmpfs while there is swap; most for buffered
 * writes): trying again on this image is useless.  -EINVAL: the range is beyond the disk,
 * too many entries, a read-only image for a write.
 * Like every call on V, not concurrent with any other call on V.
 */
struct iovec;
VHDX_MUST_CHECK int vhdx_readv_nowait(struct vhdx *v, const struct iovec *iov, int iovcnt,
				      uint64_t off);
VHDX_MUST_CHECK int vhdx_writev_nowait(struct vhdx *v, const struct iovec *iov, int iovcnt,
				       uint64_t off);

#endif
