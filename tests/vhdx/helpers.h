/* Shared helpers of the libvhdx tests. */
#ifndef HVKIT_TESTS_VHDX_HELPERS_H
#define HVKIT_TESTS_VHDX_HELPERS_H

#include <stdbool.h>
#include <stdint.h>

#include "formats/vhdx/vhdx.h"

/* A fresh temporary directory (removed by th_rmdir). */
char *th_mkdtemp(void);
void th_rmdir(char *dir);
/* Run a shell command quietly; its exit status, or -1. */
int th_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Is PROGRAM on $PATH? */
bool th_have(const char *program);
/* SHA-256 (hex) of the whole virtual disk of V, or of a file; 0 or -errno. */
int th_hash_vhdx(struct vhdx *v, char hex[65]);
int th_hash_file(const char *path, char hex[65]);
/* $HVKIT_SHARED/testdata/vhdx, or NULL when absent. */
const char *th_testdata(void);
/* Fill with a deterministic pattern from SEED. */
void th_fill(void *buf, size_t len, uint32_t seed);

#endif
