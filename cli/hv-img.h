/*
 * hv-img: VHDX images from the command line, modelled on qemu-img.  One file per group of
 * commands; this header holds what they share.
 */
#ifndef HVKIT_HV_IMG_H
#define HVKIT_HV_IMG_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "formats/vhdx/vhdx.h"

/* Exit codes, as qemu-img: 0 ok, 1 error; check uses 2 (corrupt) and 3 (leaks). */
#define IMG_OK 0
#define IMG_ERR 1

/* Print "hv-img: " + message + ": " + strerror(-err) (when err < 0) to stderr; returns 1. */
int img_error(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "10G", "512M", "1T", "4096", "10GB": binary multiples.  -EINVAL when malformed. */
int img_parse_size(const char *s, uint64_t *out);
/* Human size as qemu-img prints it: "10 MiB". */
void img_human(uint64_t v, char *buf, size_t len);
/* Open an image for a command, printing the reason on failure. */
int img_open(const char *path, unsigned flags, struct vhdx **out);
/* Parse "-o key=value,..." into create options (type, block_size, logical_sector_size,
 * physical_sector_size); 0 or -EINVAL with a message printed. */
int img_parse_create_opts(const char *s, struct vhdx_create_opts *o);
/* Progress on a terminal: call with done <= total; prints only when stdout is a tty. */
void img_progress(bool enabled, uint64_t done, uint64_t total);
/* S as a JSON string literal on stdout. */
void img_json_str(const char *s);

/* convert's direct copies: LEN bytes at IN_OFF in file IN to OUT_OFF in file OUT. */
struct img_job {
	int in, out;
	uint64_t in_off, out_off, len;
	uint64_t voff; /* virtual offset, for the fallback */
	bool redo;     /* the mapped-copy thread could not copy it */
};

/* convert's second copying thread for tmpfs destinations (hv-img-mapcopy.c). */
struct img_mapcopy {
	pthread_t thread;
	struct img_job *jobs;
	size_t n;
	atomic_size_t *next; /* the next job to claim, shared with the caller */
	bool running, failed;
};
/*
 * Start a thread that claims jobs[*next] (atomic_fetch_add) until *next reaches N and copies
 * each through a mapping of its output, as the caller claims and copies others.  OUT must
 * be open for reading and writing.  Jobs it leaves (not whole pages) or fails on (then it
 * stops) get redo set: the caller copies them after img_mapcopy_join().  Unless ALWAYS, it
 * starts only when a CPU is idle.  false: no thread (the caller copies them all).
 */
bool img_mapcopy_start(struct img_mapcopy *c, struct img_job *jobs, size_t n,
		       atomic_size_t *next, bool always);
/* Wait for the thread; false if it failed on a job (better not started again). */
bool img_mapcopy_join(struct img_mapcopy *c);

int img_cmd_convert(int argc, char **argv);
int img_cmd_check(int argc, char **argv);
int img_cmd_resize(int argc, char **argv);
int img_cmd_merge(int argc, char **argv);
int img_cmd_compact(int argc, char **argv);
int img_cmd_map(int argc, char **argv);

#endif
