/*
 * libvhdx internals: the handle, little-endian accessors and the functions the per-structure
 * files share.  Section numbers are MS-VHDX v1.0.
 */
#ifndef HVKIT_VHDX_INTERNAL_H
#define HVKIT_VHDX_INTERNAL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "formats/vhdx/vhdx.h"

#define MUST_CHECK VHDX_MUST_CHECK

/* Fixed layout of the header section (2.2). */
#define VHDX_IDENT_OFF 0
#define VHDX_HEADER1_OFF (64 * VHDX_KIB)
#define VHDX_HEADER2_OFF (128 * VHDX_KIB)
#define VHDX_REGION1_OFF (192 * VHDX_KIB)
#define VHDX_REGION2_OFF (256 * VHDX_KIB)
#define VHDX_HEADER_SIZE 4096u
#define VHDX_REGION_SIZE (64 * 1024u)
#define VHDX_METATABLE_SIZE (64 * 1024u)
#define VHDX_SB_BLOCK_SIZE VHDX_MIB

#define SIG_IDENT 0x656C696678646876ull /* "vhdxfile" */
#define SIG_HEAD 0x64616568u
#define SIG_REGI 0x69676572u
#define SIG_META 0x617461646174656Dull
#define SIG_LOGE 0x65676F6Cu
#define SIG_ZERO 0x6F72657Au
#define SIG_DESC 0x63736564u
#define SIG_DATA 0x61746164u

/* BAT entry states (2.5.1). */
enum {
	PAYLOAD_NOT_PRESENT = 0,
	PAYLOAD_UNDEFINED = 1,
	PAYLOAD_ZERO = 2,
	PAYLOAD_UNMAPPED = 3,
	PAYLOAD_UNMAPPED_V095 = 5, /* draft value, still written by old tools: read as unmapped */
	PAYLOAD_FULLY_PRESENT = 6,
	PAYLOAD_PARTIALLY_PRESENT = 7,
	SB_NOT_PRESENT = 0,
	SB_PRESENT = 6,
};
#define BAT_STATE(e) ((unsigned)((e) & 7))
#define BAT_OFFSET(e) ((e) & 0xFFFFFFFFFFF00000ull)
#define BAT_RESERVED(e) ((e) & 0xFFFF8ull)

static inline uint16_t le16(const void *p)
{
	const uint8_t *b = p;
	return (uint16_t)(b[0] | b[1] << 8);
}
static inline uint32_t le32(const void *p)
{
	const uint8_t *b = p;
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static inline uint64_t le64(const void *p)
{
	const uint8_t *b = p;
	return (uint64_t)le32(b) | (uint64_t)le32(b + 4) << 32;
}
static inline void put16(void *p, uint16_t v)
{
	uint8_t *b = p;
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
}
static inline void put32(void *p, uint32_t v)
{
	uint8_t *b = p;
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}
static inline void put64(void *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32((uint8_t *)p + 4, (uint32_t)(v >> 32));
}

struct vhdx_header {
	uint64_t seq;
	struct vhdx_guid file_write, data_write, log_guid;
	uint16_t log_version, version;
	uint32_t log_length;
	uint64_t log_offset;
};

struct vhdx_region {
	struct vhdx_guid guid;
	uint64_t offset;
	uint32_t length;
	uint32_t required;
};

struct vhdx_kv {
	char *key, *value;   /* UTF-8 */
	uint32_t voff, vlen; /* the value's place in the locator item, as read */
};

/* Metadata items this library knows (metadata.c). */
enum { ITEM_FILE_PARAMS, ITEM_DISK_SIZE, ITEM_DISK_ID, ITEM_LSS, ITEM_PSS, ITEM_LOCATOR, NITEMS };

/* A 4 KiB sector to change in the next log entry, besides the BAT. */
struct vhdx_pending {
	uint64_t offset;
	uint8_t data[4096];
};

/* Sectors replayed from a dirty log, kept in memory for a read-only open (2.3.3, note <5>). */
struct vhdx_overlay {
	uint64_t offset, length;
	uint8_t *data; /* NULL: zeros */
};

struct vhdx {
	int fd;
	unsigned flags;
	char *path;
	char why[200];
	uint64_t file_size;      /* bytes readable: the file, or more after an in-memory replay */

	struct vhdx_header hdr;
	unsigned hdr_slot;       /* 0 or 1: the slot that holds the current header */
	char creator[256];

	struct vhdx_region *regions;
	uint32_t nregions;
	const struct vhdx_region *bat_region, *meta_region;

	uint32_t block_size;
	bool leave_allocated, has_parent;
	uint64_t virtual_size;
	struct vhdx_guid disk_id;
	uint32_t lss, pss;
	struct vhdx_kv *locator;
	size_t nlocator;
	uint32_t item_off[NITEMS]; /* offsets in the metadata region, 0 if absent */

	uint64_t *bat;
#define VHDX_OPEN_MAP_BAT 0x100u /* internal: this image's BAT is mapped (a shared parent) */
	size_t bat_map_len;       /* > 0: bat is a read-only mapping of the file, this long */
	uint64_t bat_entries;
	uint64_t nblocks;         /* payload blocks */
	uint64_t chunk_ratio;     /* payload blocks per sector-bitmap block */
	uint32_t sectors_per_block;

	struct vhdx_overlay *ov;
	size_t nov;
	bool log_replayed;

	struct vhdx *parent;
	char *parent_path;
	unsigned depth;           /* 0 for the image opened by the caller */

	/* read-write state */
	bool session;             /* headers already bumped for this session */
	bool data_changed;        /* DataWriteGuid already renewed */
	uint8_t *dirty;           /* one bit per 4 KiB sector of the BAT */
	size_t ndirty;
	uint64_t log_pos;         /* where the next log entry goes */
	uint64_t log_seq;
	uint64_t alloc_end;       /* next free 1 MiB-aligned offset for new blocks */
	uint8_t *scratch;         /* one block, for copy-on-write */
	struct vhdx_pending *pending;
	size_t npending;

	/* the nowait I/O's tmpfs rule (io.c) */
	bool tmpfs;               /* the file is on tmpfs */
	bool chain_tmpfs;         /* it or a file of its chain is */
	bool no_swap;             /* the host had no active swap at swap_ns */
	uint64_t swap_ns;         /* CLOCK_MONOTONIC_COARSE of that check, 0 never */
	void *pages;              /* PROT_NONE map of the file for mincore(), or NULL */
	uint64_t pages_len;
	uint64_t **present;       /* pages mincore() found, a bitmap per PRESENT_CHUNK pages */
	size_t npresent;          /* entries of present (each NULL until a page there is seen) */
};

/* util.c */
uint32_t vhdx_crc32c(uint32_t crc, const void *buf, size_t len);
uint32_t vhdx_crc32c_zeroed(const void *buf, size_t len, size_t csum_off);
bool vhdx_guid_is_zero(const struct vhdx_guid *g);
bool vhdx_guid_eq(const struct vhdx_guid *a, const struct vhdx_guid *b);
MUST_CHECK int vhdx_guid_generate(struct vhdx_guid *g);
MUST_CHECK int vhdx_guid_from_text(const char *s, struct vhdx_guid *g);
/* UTF-16LE (LEN bytes) to a new UTF-8 string; -EBADMSG on bad surrogates. */
MUST_CHECK int vhdx_utf16_to_utf8(const uint8_t *p, size_t len, char **out);
/* UTF-8 to UTF-16LE in BUF; returns bytes written or -E2BIG / -EINVAL. */
MUST_CHECK long vhdx_utf8_to_utf16(const char *s, uint8_t *buf, size_t cap);
int vhdx_fail(struct vhdx *v, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* io.c: file access (the in-memory log overlay applied), payload reads and writes */
MUST_CHECK int vhdx_pread(struct vhdx *v, void *buf, size_t len, uint64_t off);
MUST_CHECK int vhdx_pwrite(struct vhdx *v, const void *buf, size_t len, uint64_t off);
MUST_CHECK int vhdx_sync(struct vhdx *v);
/* At open: read /proc/swaps for the nowait tmpfs rule, if V's chain has a file on tmpfs. */
void vhdx_swap_probe(struct vhdx *v);
/* Map (again) a read-write tmpfs image for the rule's writes, when it grew past the map. */
void vhdx_pages_map(struct vhdx *v);
/* Forget which pages of V's file were seen to exist: call after a hole is punched in it or
 * it is cut shorter. */
void vhdx_pages_forget(struct vhdx *v);

/* ident.c */
MUST_CHECK int vhdx_ident_read(struct vhdx *v);
MUST_CHECK int vhdx_ident_write(int fd, const char *creator);

/* header.c */
MUST_CHECK int vhdx_header_read(struct vhdx *v);
void vhdx_header_encode(const struct vhdx_header *h, uint8_t buf[VHDX_HEADER_SIZE]);
MUST_CHECK int vhdx_header_update(struct vhdx *v);

/* region.c */
MUST_CHECK int vhdx_region_read(struct vhdx *v);
void vhdx_region_encode(const struct vhdx_region *r, uint32_t n, uint8_t *buf);
extern const struct vhdx_guid VHDX_GUID_BAT, VHDX_GUID_METADATA;

/* metadata.c */
MUST_CHECK int vhdx_metadata_read(struct vhdx *v);
struct vhdx_meta_new {
	uint32_t block_size;
	bool leave_allocated, has_parent;
	uint64_t virtual_size;
	struct vhdx_guid disk_id;
	uint32_t lss, pss;
	const struct vhdx_kv *locator;
	size_t nlocator;
};
/* Encode a metadata region (BUF of LEN bytes, zeroed by the caller). */
MUST_CHECK int vhdx_metadata_encode(const struct vhdx_meta_new *m, uint8_t *buf, size_t len);

/* Queue a change of LEN bytes at file offset OFF (inside one or two sectors) for the next
 * commit; the bytes around come from the file. */
MUST_CHECK int vhdx_pending_patch(struct vhdx *v, uint64_t off, const void *data, size_t len);

/* locator.c */
MUST_CHECK int vhdx_locator_parse(struct vhdx *v, const uint8_t *p, size_t len);
MUST_CHECK long vhdx_locator_encode(const struct vhdx_kv *kv, size_t n, uint8_t *buf, size_t cap);
const char *vhdx_locator_find(const struct vhdx *v, const char *key);
MUST_CHECK int vhdx_locator_open_parent(struct vhdx *v);
void vhdx_kv_free(struct vhdx_kv *kv, size_t n);

/* bat.c */
void vhdx_geometry(uint64_t vsize, uint32_t block_size, uint32_t lss, bool diff,
		   uint64_t *nblocks, uint64_t *chunk_ratio, uint64_t *entries);
static inline uint64_t vhdx_bat_index(const struct vhdx *v, uint64_t block)
{
	return block + block / v->chunk_ratio;
}
static inline uint64_t vhdx_sb_index(const struct vhdx *v, uint64_t chunk)
{
	return chunk * (v->chunk_ratio + 1) + v->chunk_ratio;
}
MUST_CHECK int vhdx_bat_read(struct vhdx *v);
MUST_CHECK int vhdx_bat_set(struct vhdx *v, uint64_t index, uint64_t entry);
MUST_CHECK int vhdx_bat_commit(struct vhdx *v);
/* Sector-bitmap bits of sectors [first, first+count) of BLOCK: runs via callback-free scan. */
MUST_CHECK int vhdx_bitmap_read(struct vhdx *v, uint64_t block, uint32_t first, uint32_t count,
				uint8_t *bits);

/* log.c */
MUST_CHECK int vhdx_log_replay(struct vhdx *v);
/* Write one log entry holding the 4 KiB sectors listed (file offsets), then flush. */
MUST_CHECK int vhdx_log_write(struct vhdx *v, const uint64_t *offsets, const uint8_t *data,
			      size_t count);

MUST_CHECK int vhdx_log_begin(struct vhdx *v);

/* open.c */
MUST_CHECK int vhdx_open_depth(const char *path, unsigned flags, unsigned depth,
			       struct vhdx **out, char *why, size_t why_len);
MUST_CHECK int vhdx_session_begin(struct vhdx *v, bool data_change);

#endif
