/* Integration: hvtop's batch mode against a real hvd (tests/daemon/harness.c), with real
 * partitions of the built-in guest where /dev/kvm can be opened. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
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

static void hvctl_ok(const struct hvd_instance *h, const char *script)
{
	struct run_result r;

	hvctl_run(h, NULL, script, &r, NULL);
	if (r.status != 0)
		fail_msg("hvctl -c '%s' exited %d:\n%s%s", script, r.status, r.out, r.err);
	run_result_free(&r);
}

/* hvtop -b -H unix://SOCK with more options (NULL-terminated). */
static void hvtop_run(const struct hvd_instance *h, struct run_result *r, ...)
{
	char host[400], *argv[24];
	const char *extra;
	va_list ap;
	int n = 0;

	snprintf(host, sizeof(host), "unix://%s", h ? h->sock : "/nonexistent/hvd.sock");
	argv[n++] = (char *)build_path("cli/hvtop");
	argv[n++] = "-b";
	argv[n++] = "-H";
	argv[n++] = host;
	va_start(ap, r);
	while ((extra = va_arg(ap, const char *)) && n < 22)
		argv[n++] = (char *)extra;
	va_end(ap);
	argv[n] = NULL;
	run_program(argv, NULL, r);
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	while ((hay = strstr(hay, needle))) {
		n++;
		hay++;
	}
	return n;
}

/* The row of a VM in the first frame: its name padded to the Name column, then the state. */
static void assert_row(const char *out, const char *name, const char *state)
{
	char row[64];

	snprintf(row, sizeof(row), "\n%-15s %-9s ", name, state);
	assert_contains(out, row);
}

static void test_frames(void **state)
{
	struct hvd_instance *h = *state;
	struct run_result r;

	hvctl_ok(h, "New-VM web1 -MemoryStartupBytes 32MB; New-VM db -MemoryStartupBytes 32MB");
	hvtop_run(h, &r, "-n", "2", "-d", "0.5", NULL);
	if (r.status != 0)
		fail_msg("hvtop exited %d:\n%s%s", r.status, r.out, r.err);
	assert_int_equal(count(r.out, "hvtop "), 2);
	assert_int_equal(count(r.out, "VMs: 2  running: 0\n"), 2);
	assert_int_equal(count(r.out, "\nName            State     CPU% MemAssigned(M)  Uptime     Status\n"), 2);
	assert_row(r.out, "web1", "Off");
	assert_row(r.out, "db", "Off");
	assert_true(strstr(r.out, "\ndb ") < strstr(r.out, "\nweb1 ")); /* sorted by Name */
	assert_contains(r.out, "Operating normally");
	assert_contains(r.out, "Events: none\n");
	run_result_free(&r);

	hvtop_run(h, &r, "-n", "1", "-s", "name", "-r", NULL);
	assert_int_equal(r.status, 0);
	assert_true(strstr(r.out, "\nweb1 ") < strstr(r.out, "\ndb "));
	run_result_free(&r);

	hvtop_run(h, &r, "-n", "1", "-f", "WEB", NULL);
	assert_int_equal(r.status, 0);
	assert_row(r.out, "web1", "Off");
	assert_null(strstr(r.out, "\ndb "));
	assert_contains(r.out, "VMs: 2  running: 0\n"); /* the header counts all */
	run_result_free(&r);
}

/* Events that happen while hvtop runs show in the next frame; the table follows with the next
 * sample (hvd sends one about every second, up to two apart when it is busy). */
static void test_events(void **state)
{
	struct hvd_instance *h = *state;
	char host[400], out[400], *text;
	int fd, st;
	pid_t pid;
	FILE *f;
	long n;

	snprintf(host, sizeof(host), "unix://%s", h->sock);
	snprintf(out, sizeof(out), "%s/hvtop.out", h->dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || dup2(fd, 1) < 0)
			_exit(126);
		execl(build_path("cli/hvtop"), "hvtop", "-b", "-n", "7", "-d", "0.5", "-H", host, (char *)NULL);
		_exit(127);
	}
	usleep(500000);
	hvctl_ok(h, "New-VM ev1 -MemoryStartupBytes 32MB; Rename-VM ev1 ev2");
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	f = fopen(out, "r");
	assert_non_null(f);
	text = calloc(1, 65536);
	assert_non_null(text);
	n = (long)fread(text, 1, 65535, f);
	fclose(f);
	assert_true(n > 0);
	assert_int_equal(count(text, "hvtop "), 7);
	assert_contains(text, " ev1 Created by ");
	assert_contains(text, " ev1 renamed to ev2\n");
	assert_row(text, "ev2", "Off");
	free(text);
}

static bool kvm_usable(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static void test_running(void **state)
{
	struct hvd_instance *h = *state;
	struct run_result r;

	if (!kvm_usable()) {
		printf("SKIP: /dev/kvm cannot be opened (%s): no partition can run here\n", strerror(errno));
		skip();
	}
	hvctl_ok(h, "New-VM run1 -MemoryStartupBytes 32MB; New-VM idle1 -MemoryStartupBytes 32MB; Start-VM run1");
	hvtop_run(h, &r, "-n", "2", "-d", "0.5", NULL);
	if (r.status != 0)
		fail_msg("hvtop exited %d:\n%s%s", r.status, r.out, r.err);
	assert_int_equal(count(r.out, "VMs: 2  running: 1\n"), 2);
	assert_row(r.out, "run1", "Running");
	assert_row(r.out, "idle1", "Off");
	assert_contains(r.out, "             32  "); /* MemAssigned(M) of the running one */
	run_result_free(&r);
	hvctl_ok(h, "Stop-VM run1 -TurnOff");
	hvtop_run(h, &r, "-n", "1", NULL);
	assert_row(r.out, "run1", "Off");
	run_result_free(&r);
}

static void test_unreachable(void **state)
{
	struct run_result r;

	(void)state;
	hvtop_run(NULL, &r, "-n", "1", NULL);
	assert_int_equal(r.status, 3);
	assert_contains(r.err, "hvtop: cannot connect to hvd at /nonexistent/hvd.sock");
	assert_string_equal(r.out, "");
	run_result_free(&r);
}

static void test_usage(void **state)
{
	char *argv[] = { (char *)build_path("cli/hvtop"), "-b", "-d", "soon", NULL };
	char *ssh[] = { (char *)build_path("cli/hvtop"), "-b", "-H", "ssh://host", NULL };
	char *sort[] = { (char *)build_path("cli/hvtop"), "-b", "-s", "colour", NULL };
	struct run_result r;

	(void)state;
	run_program(argv, NULL, &r);
	assert_int_equal(r.status, 2);
	assert_contains(r.err, "-d soon");
	run_result_free(&r);
	run_program(ssh, NULL, &r);
	assert_int_equal(r.status, 3);
	assert_contains(r.err, "SSH");
	run_result_free(&r);
	run_program(sort, NULL, &r);
	assert_int_equal(r.status, 2);
	run_result_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_frames, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_events, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_running, hvd_setup, hvd_teardown),
		cmocka_unit_test(test_unreachable),
		cmocka_unit_test(test_usage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
