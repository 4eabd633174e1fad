/*
 * Runs a libFuzzer target without libFuzzer: over the files (or the files in the folders)
 * given on the command line, or, with no arguments, over the corpus folder
 * $HVKIT_TESTDATA/FUZZ_CORPUS.  `make check` uses it so that every fuzz target, and every
 * crash ever found (kept in the corpus), runs on every build, sanitizers included.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	do {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			buf = realloc(buf, cap);
			if (!buf)
				abort();
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

static int run_path(const char *path, int *count)
{
	struct stat st;
	struct dirent **names;
	int n, i, rc = 0;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		(*count)++;
		return run_file(path);
	}
	n = scandir(path, &names, NULL, alphasort);
	if (n < 0)
		return -1;
	for (i = 0; i < n; i++) {
		char *p;

		if (names[i]->d_name[0] != '.' && asprintf(&p, "%s/%s", path, names[i]->d_name) >= 0) {
			rc |= run_path(p, count);
			free(p);
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	int i, rc = 0, count = 0;

	if (argc < 2) {
		const char *data = getenv("HVKIT_TESTDATA");
		char *dir;

		if (!data) {
			fprintf(stderr, "give corpus files or folders, or set HVKIT_TESTDATA\n");
			return 2;
		}
		if (asprintf(&dir, "%s/%s", data, FUZZ_CORPUS) < 0)
			return 2;
		rc = run_path(dir, &count);
		free(dir);
	}
	for (i = 1; i < argc; i++)
		rc |= run_path(argv[i], &count);
	printf("%d inputs ran without a crash\n", count);
	return rc ? 1 : 0;
}
