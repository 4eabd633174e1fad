/*
 * Test helpers: temporary directories, shell commands, hashing through openssl (SHA-NI
 * makes 8 GiB take seconds) or sha256sum.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/vhdx/helpers.h"

char *th_mkdtemp(void)
{
	const char *t = getenv("TMPDIR");
	char *d;

	if (asprintf(&d, "%s/hvkit-vhdx-XXXXXX", t ? t : "/tmp") < 0)
		return NULL;
	if (!mkdtemp(d)) {
		free(d);
		return NULL;
	}
	return d;
}

void th_rmdir(char *dir)
{
	if (dir && strncmp(dir, "/", 1) == 0 && strstr(dir, "hvkit-vhdx-"))
		if (th_sh("rm -rf '%s'", dir) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	free(dir);
}

int th_sh(const char *fmt, ...)
{
	char *cmd;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&cmd, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -1;
	r = system(cmd);
	free(cmd);
	return r == -1 ? -1 : WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

bool th_have(const char *program)
{
	return th_sh("command -v %s >/dev/null 2>&1", program) == 0;
}

static FILE *hasher(void)
{
	if (th_have("openssl"))
		return popen("openssl dgst -sha256 -r", "w");
	return popen("sha256sum", "w");
}

static int finish(FILE *p, const char *out, char hex[65])
{
	(void)p;
	FILE *f = fopen(out, "r");
	int r = -EIO;

	if (f && fscanf(f, "%64s", hex) == 1 && strlen(hex) == 64)
		r = 0;
	if (f)
		fclose(f);
	unlink(out);
	return r;
}

int th_hash_vhdx(struct vhdx *v, char hex[65])
{
	struct vhdx_info info;
	char out[] = "/tmp/hvkit-hash-XXXXXX";
	int fd = mkstemp(out), r;
	size_t chunk = 8u << 20;
	char *buf = malloc(chunk);

	if (fd < 0 || !buf) {
		free(buf);
		return -errno;
	}
	r = vhdx_info_get(v, &info);
	int saved = dup(1);
	dup2(fd, 1);
	close(fd);
	FILE *p = hasher();
	dup2(saved, 1);
	close(saved);
	for (uint64_t off = 0; r == 0 && off < info.virtual_size; off += chunk) {
		size_t n = info.virtual_size - off < chunk ? info.virtual_size - off : chunk;
		r = vhdx_read(v, buf, n, off);
		if (r == 0 && fwrite(buf, 1, n, p) != n)
			r = -EIO;
	}
	free(buf);
	if (pclose(p) != 0 && r == 0)
		r = -EIO;
	if (r < 0) {
		unlink(out);
		return r;
	}
	return finish(p, out, hex);
}

int th_hash_file(const char *path, char hex[65])
{
	char cmd[PATH_MAX + 64];
	FILE *p;
	int r = -EIO;

	snprintf(cmd, sizeof(cmd), "%s < '%s'",
		 th_have("openssl") ? "openssl dgst -sha256 -r" : "sha256sum", path);
	p = popen(cmd, "r");
	if (!p)
		return -errno;
	if (fscanf(p, "%64s", hex) == 1 && strlen(hex) == 64)
		r = 0;
	pclose(p);
	return r;
}

const char *th_testdata(void)
{
	static char path[PATH_MAX];
	const char *s = getenv("HVKIT_SHARED");
	struct stat st;

	if (!s)
		return NULL;
	snprintf(path, sizeof(path), "%s/testdata/vhdx", s);
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? path : NULL;
}

void th_fill(void *buf, size_t len, uint32_t seed)
{
	uint8_t *b = buf;
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		b[i] = (uint8_t)x;
	}
}
