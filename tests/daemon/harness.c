/* Integration-test harness: see harness.h. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/daemon/harness.h"

const char *build_path(const char *rel)
{
	static char buf[4][4096];
	static int k;
	const char *top = getenv("top_builddir");

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", top ? top : ".", rel);
	return buf[k];
}

static void append(char **s, size_t *len, const char *p, size_t n)
{
	*s = realloc(*s, *len + n + 1);
	assert_non_null(*s);
	memcpy(*s + *len, p, n);
	*len += n;
	(*s)[*len] = '\0';
}

void run_program(char *const argv[], const char *stdin_text, struct run_result *r)
{
	int out[2], err[2], in[2], st;
	size_t olen = 0, elen = 0;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	assert_int_equal(pipe(out), 0);
	assert_int_equal(pipe(err), 0);
	assert_int_equal(pipe(in), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		close(err[0]);
		close(err[1]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	close(err[1]);
	if (stdin_text && write(in[1], stdin_text, strlen(stdin_text)) < 0)
		fail_msg("cannot feed the program");
	close(in[1]);
	append(&r->out, &olen, "", 0);
	append(&r->err, &elen, "", 0);
	while (out[0] >= 0 || err[0] >= 0) {
		/* poll() skips the descriptors already closed (-1). */
		struct pollfd p[2] = { { .fd = out[0], .events = POLLIN }, { .fd = err[0], .events = POLLIN } };
		char buf[65536];
		int i;

		if (poll(p, 2, 60000) <= 0)
			fail_msg("%s did not finish within a minute", argv[0]);
		for (i = 0; i < 2; i++) {
			int *fd = i == 0 ? &out[0] : &err[0];
			ssize_t n;

			if (*fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(*fd, buf, sizeof(buf));
			if (n <= 0) {
				close(*fd);
				*fd = -1;
			} else if (i == 0) {
				append(&r->out, &olen, buf, (size_t)n);
			} else {
				append(&r->err, &elen, buf, (size_t)n);
			}
		}
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void run_result_free(struct run_result *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

static pid_t read_pid(const struct hvd_instance *h)
{
	char path[400], buf[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/hvd.lock", h->state);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return (pid_t)atoi(buf);
}

void hvd_start_again(struct hvd_instance *h)
{
	char *argv[] = { (char *)build_path("daemon/hvd"), "--socket", h->sock, "--state-dir", h->state,
			 "--log-level", "debug", (char *)h->extra[0], (char *)h->extra[1], (char *)h->extra[2], NULL };
	struct run_result r;

	run_program(argv, NULL, &r);
	if (r.status != 0)
		fail_msg("hvd did not start (status %d): %s", r.status, r.err);
	run_result_free(&r);
	h->pid = read_pid(h);
	assert_true(h->pid > 0);
}

void hvd_start(struct hvd_instance *h)
{
	const char *tmp = getenv("TMPDIR");

	memset(h, 0, sizeof(*h));
	snprintf(h->dir, sizeof(h->dir), "%s/hvkit-test-XXXXXX", tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(h->dir));
	snprintf(h->state, sizeof(h->state), "%s/state", h->dir);
	snprintf(h->sock, sizeof(h->sock), "%s/hvd.sock", h->dir);
	snprintf(h->ro_sock, sizeof(h->ro_sock), "%s/hvd-ro.sock", h->dir);
	hvd_start_again(h);
}

void hvd_stop(struct hvd_instance *h, bool hard)
{
	int i;

	if (h->pid <= 0)
		return;
	kill(h->pid, hard ? SIGKILL : SIGTERM);
	for (i = 0; i < 500 && kill(h->pid, 0) == 0; i++) {
		struct timespec ts = { 0, 10000000 };

		nanosleep(&ts, NULL);
	}
	if (kill(h->pid, 0) == 0)
		fail_msg("hvd (pid %d) did not stop", (int)h->pid);
	h->pid = 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* Workers outlive hvd by design: a test's own must not outlive the test. */
static void kill_workers(const struct hvd_instance *h)
{
	struct dirent *e;
	DIR *d = opendir("/proc");

	while (d && (e = readdir(d))) {
		char path[300], cmd[4096];
		FILE *f;
		size_t n, i;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		n = fread(cmd, 1, sizeof(cmd) - 1, f);
		fclose(f);
		for (i = 0; i < n; i++)
			if (!cmd[i])
				cmd[i] = ' ';
		cmd[n] = '\0';
		if (strstr(cmd, "hv-worker") && strstr(cmd, h->state))
			kill(atoi(e->d_name), SIGKILL);
	}
	if (d)
		closedir(d);
}

void hvd_cleanup(struct hvd_instance *h)
{
	hvd_stop(h, false);
	if (h->dir[0])
		kill_workers(h);
	if (h->dir[0])
		nftw(h->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void hvctl_run(const struct hvd_instance *h, const char *uri, const char *script, struct run_result *r, ...)
{
	char host[400];
	char *argv[16];
	int n = 0;
	va_list ap;
	const char *extra;

	snprintf(host, sizeof(host), "unix://%s", h ? h->sock : "/nonexistent");
	argv[n++] = (char *)build_path("cli/hvctl");
	argv[n++] = "-H";
	argv[n++] = (char *)(uri ? uri : host);
	va_start(ap, r);
	while ((extra = va_arg(ap, const char *)) && n < 12)
		argv[n++] = (char *)extra;
	va_end(ap);
	argv[n++] = "-c";
	argv[n++] = (char *)script;
	argv[n] = NULL;
	run_program(argv, NULL, r);
}

int hvd_setup(void **state)
{
	struct hvd_instance *h = calloc(1, sizeof(*h));

	hvd_start(h);
	*state = h;
	return 0;
}

int hvd_teardown(void **state)
{
	hvd_cleanup(*state);
	free(*state);
	return 0;
}
