/* Default paths of the interface contract: see paths.h. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wire-protocol/paths.h"

static int fmt(char *buf, size_t len, const char *f, ...) __attribute__((format(printf, 3, 4)));
static int fmt(char *buf, size_t len, const char *f, ...)
{
	va_list ap;
	int n;

	va_start(ap, f);
	n = vsnprintf(buf, len, f, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static const char *env_abs(const char *name)
{
	const char *v = getenv(name);

	return v && v[0] == '/' ? v : NULL;
}

int wire_path_socket(char *buf, size_t len)
{
	const char *run = env_abs("XDG_RUNTIME_DIR");

	if (geteuid() == 0)
		return fmt(buf, len, "/run/hvkit/hvd.sock");
	if (run)
		return fmt(buf, len, "%s/hvkit/hvd.sock", run);
	return fmt(buf, len, "/tmp/hvkit-%u/hvd.sock", (unsigned)geteuid());
}

int wire_path_ro_socket(const char *main_socket, char *buf, size_t len)
{
	size_t n = strlen(main_socket);

	if (n > 5 && strcmp(main_socket + n - 5, ".sock") == 0)
		return fmt(buf, len, "%.*s-ro.sock", (int)(n - 5), main_socket);
	return fmt(buf, len, "%s-ro", main_socket);
}

int wire_path_state_dir(char *buf, size_t len)
{
	const char *data = env_abs("XDG_DATA_HOME"), *home = env_abs("HOME");

	if (geteuid() == 0)
		return fmt(buf, len, "/var/lib/hvkit");
	if (data)
		return fmt(buf, len, "%s/hvkit", data);
	if (home)
		return fmt(buf, len, "%s/.local/share/hvkit", home);
	return fmt(buf, len, "/tmp/hvkit-%u/state", (unsigned)geteuid());
}
