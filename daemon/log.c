/* hvd's log: stderr in the foreground, STATE/hvd.log otherwise. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon/hvd.h"

static FILE *log_file;
static enum hvd_log_level log_level = HVD_LOG_INFO;

int hvd_log_open(const char *path, enum hvd_log_level level, bool to_stderr)
{
	log_level = level;
	if (to_stderr || !path) {
		log_file = stderr;
		return 0;
	}
	{
		int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);

		log_file = fd >= 0 ? fdopen(fd, "a") : NULL;
		if (!log_file) {
			if (fd >= 0)
				close(fd);
			log_file = stderr;
			return -errno;
		}
	}
	setvbuf(log_file, NULL, _IOLBF, 0);
	return 0;
}

void hvd_log(enum hvd_log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	char stamp[32];
	struct tm tm;
	time_t t;
	va_list ap;

	if (level > log_level)
		return;
	if (!log_file)
		log_file = stderr;
	t = time(NULL);
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(log_file, "%s hvd[%d]: %s: ", stamp, (int)getpid(), names[level]);
	va_start(ap, fmt);
	vfprintf(log_file, fmt, ap);
	va_end(ap);
	fputc('\n', log_file);
	fflush(log_file);
}
