/* hvtop: its model and hvctl commands (unit tests), then batch mode against a real hvd
 * (tests/daemon/harness.c), with real partitions of the built-in guest where /dev/kvm can be
 * opened. */
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

#include "cli/top-conn.h"
#include "cli/top-model.h"
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
	assert_string_equal(r.err, ""); /* also: no sanitizer report in --enable-sanitizers builds */
	assert_int_equal(count(r.out, "hvtop "), 2);
	assert_int_equal(count(r.out, "VMs: 2  running: 0\n"), 2);
	assert_int_equal(count(r.out, "\nName            State     CPU% MemAssigned(M)  Uptime     Heartbeat  Ckpt Status\n"), 2);
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


/* Unit tests of the model and the hvctl commands, without a daemon. */

static struct wire_value *vm_obj(const char *name, const char *id, const char *state, int64_t cpu, uint64_t mem)
{
	struct wire_value *o = wire_object("VirtualMachine");

	wire_object_add(o, "Name", wire_string(name));
	wire_object_add(o, "Id", wire_string(id));
	wire_object_add(o, "State", wire_string(state));
	wire_object_add(o, "CPUUsage", wire_int(cpu));
	wire_object_add(o, "MemoryAssigned", wire_uint(mem));
	wire_object_add(o, "Uptime", wire_duration(61000000000LL));
	wire_object_add(o, "Status", wire_string("Operating normally"));
	return o;
}

static void feed(struct top_model *m, struct wire_value *vms)
{
	struct wire_value *s = wire_object("VMSamples");

	wire_object_add(s, "Time", wire_timestamp(1700000000000000000LL));
	wire_object_add(s, "VMs", vms);
	assert_int_equal(top_model_samples(m, s), 0);
	wire_value_unref(s);
}

/* A worker's sample of one VM: one vCPU and one channel with the totals given. */
static struct wire_value *detail(const char *id, uint64_t cpu_ns, uint64_t packets, const char *health)
{
	struct wire_value *d = wire_object("VMDetail"), *procs = wire_list(), *chans = wire_list(), *ics = wire_list();
	struct wire_value *p = wire_object("VMProcessorSample"), *c = wire_object("VMBusChannel");
	struct wire_value *ic = wire_object("VMIntegrationServiceStatus");

	wire_object_add(d, "VMId", wire_string(id));
	wire_object_add(p, "Index", wire_int(0));
	wire_object_add(p, "CpuNs", wire_uint(cpu_ns));
	wire_object_add(p, "Exits", wire_uint(packets * 10));
	wire_list_append(procs, p);
	wire_object_add(c, "ChannelId", wire_uint(1));
	wire_object_add(c, "Name", wire_string("Heartbeat"));
	wire_object_add(c, "State", wire_string("Open"));
	wire_object_add(c, "PacketsIn", wire_uint(packets));
	wire_object_add(c, "PacketsOut", wire_uint(packets));
	wire_object_add(c, "BytesIn", wire_uint(packets * 100));
	wire_object_add(c, "InRingSize", wire_uint(4096));
	wire_list_append(chans, c);
	wire_object_add(ic, "Name", wire_string("Heartbeat"));
	wire_object_add(ic, "Health", wire_string(health));
	wire_list_append(ics, ic);
	wire_object_add(d, "Processors", procs);
	wire_object_add(d, "Channels", chans);
	wire_object_add(d, "IntegrationServices", ics);
	return d;
}

/* Processors, channels and the heartbeat from the samples' details: rates between two. */
static void test_model_details(void **state)
{
	struct top_model m;
	int k;

	(void)state;
	top_model_init(&m);
	for (k = 0; k < 3; k++) {
		struct wire_value *s = wire_object("VMSamples"), *vms = wire_list(), *details = wire_list();

		wire_list_append(vms, vm_obj("web1", "id-1", k < 2 ? "Running" : "Off", 40, 64u << 20));
		if (k < 2)
			wire_list_append(details, detail("id-1", (uint64_t)k * 500000000, (uint64_t)k * 30, k ? "OK" : "No Contact"));
		wire_object_add(s, "Time", wire_timestamp(1700000000000000000LL + k * 2000000000LL)); /* 2 s apart */
		wire_object_add(s, "VMs", vms);
		wire_object_add(s, "Details", details);
		assert_int_equal(top_model_samples(&m, s), 0);
		wire_value_unref(s);
		if (k == 0) { /* the first sample: totals, no rates yet */
			assert_int_equal(m.vms[0].ncpus, 1);
			assert_int_equal(m.vms[0].nchans, 1);
			assert_true(m.vms[0].chans[0].rate[TOP_PKT_IN] == 0);
			assert_string_equal(m.vms[0].heartbeat, "No Contact");
		} else if (k == 1) { /* 30 packets and 0.5 s of CPU in 2 s */
			uint32_t h[TOP_HISTORY];

			assert_true(m.vms[0].chans[0].rate[TOP_PKT_IN] == 15);
			assert_true(m.vms[0].chans[0].rate[TOP_BYTES_IN] == 1500);
			assert_true(m.vms[0].cpus[0].usage == 25);
			assert_true(m.vms[0].cpus[0].exits_rate == 150);
			assert_string_equal(m.vms[0].heartbeat, "OK");
			assert_int_equal(top_chan_history(&m.vms[0].chans[0], h), 2);
			assert_int_equal(h[1], 30); /* packets/s both ways */
		} else { /* off: nothing but the definition */
			assert_int_equal(m.vms[0].ncpus, 0);
			assert_int_equal(m.vms[0].nchans, 0);
			assert_string_equal(m.vms[0].heartbeat, "");
		}
	}
	m.sort = TOP_COL_HEARTBEAT;
	top_model_rows(&m);
	top_model_free(&m);
}

static const char *row_name(const struct top_model *m, size_t i)
{
	return m->vms[m->rows[i]].name;
}

static void test_model_samples(void **state)
{
	struct top_model m;
	struct wire_value *l = wire_list(), *bad = wire_list();
	uint8_t h[TOP_HISTORY];
	int i;

	(void)state;
	top_model_init(&m);
	wire_list_append(l, vm_obj("web1", "id-1", "Running", 40, 64u << 20));
	wire_list_append(l, vm_obj("db", "id-2", "Off", 0, 0));
	wire_list_append(l, vm_obj("App", "id-3", "Paused", 5, 32u << 20));
	feed(&m, l);
	assert_int_equal(m.nvms, 3);
	assert_int_equal(top_model_running(&m), 1);
	assert_string_equal(row_name(&m, 0), "App"); /* by name, ignoring case */
	assert_string_equal(row_name(&m, 1), "db");
	assert_string_equal(row_name(&m, 2), "web1");
	m.sort = TOP_COL_CPU;
	m.reverse = true;
	top_model_rows(&m);
	assert_string_equal(row_name(&m, 0), "web1");
	assert_string_equal(row_name(&m, 2), "db");
	m.sort = TOP_COL_MEMORY;
	m.reverse = false;
	top_model_rows(&m);
	assert_string_equal(row_name(&m, 0), "db");
	snprintf(m.filter, sizeof(m.filter), "PAUS");
	top_model_rows(&m);
	assert_int_equal(m.nrows, 1);
	assert_string_equal(row_name(&m, 0), "App");
	m.filter[0] = '\0';

	/* db is gone; web1 keeps its history, oldest first, a minute of it at most. */
	for (i = 0; i < TOP_HISTORY + 10; i++) {
		l = wire_list();
		wire_list_append(l, vm_obj("App", "id-3", "Paused", 0, 0));
		wire_list_append(l, vm_obj("web1", "id-1", "Running", i % 101, 64u << 20));
		feed(&m, l);
	}
	assert_int_equal(m.nvms, 2);
	assert_null(top_model_find(&m, "id-2"));
	assert_int_equal(top_vm_history(top_model_find(&m, "id-1"), h), TOP_HISTORY);
	assert_int_equal(h[0], 10);
	assert_int_equal(h[TOP_HISTORY - 1], TOP_HISTORY + 9);
	assert_int_equal(top_model_find(&m, "id-1")->uptime_ns, 61000000000LL);
	assert_int_equal(top_model_samples(&m, bad), -EBADMSG);
	wire_value_unref(bad);
	top_model_free(&m);
}

static struct wire_value *vm_event(const char *type, const char *name, const char *id, const char *key, const char *val)
{
	struct wire_value *e = wire_object("VMEvent");

	wire_object_add(e, "EventType", wire_string(type));
	wire_object_add(e, "VMName", wire_string(name));
	wire_object_add(e, "VMId", wire_string(id));
	if (key)
		wire_object_add(e, key, wire_string(val));
	wire_object_add(e, "Time", wire_timestamp(1700000000000000000LL));
	return e;
}

static void test_model_events(void **state)
{
	struct top_model m;
	struct wire_value *l = wire_list(), *e;
	int i;

	(void)state;
	top_model_init(&m);
	wire_list_append(l, vm_obj("web1", "id-1", "Off", 0, 0));
	feed(&m, l);
	e = vm_event("StateChanged", "web1", "id-1", "State", "Starting");
	top_model_vm_event(&m, e);
	wire_value_unref(e);
	assert_string_equal(top_model_find(&m, "id-1")->state, "Starting"); /* before any sample */
	assert_string_equal(top_model_event(&m, 0)->text, "web1 is Starting");
	e = vm_event("Renamed", "web2", "id-1", "OldName", "web1");
	top_model_vm_event(&m, e);
	wire_value_unref(e);
	assert_string_equal(top_model_find(&m, "id-1")->name, "web2");
	assert_string_equal(top_model_event(&m, 0)->text, "web1 renamed to web2");
	e = vm_event("Created", "new", "id-9", "User", "alice");
	top_model_vm_event(&m, e);
	wire_value_unref(e);
	assert_string_equal(top_model_event(&m, 0)->text, "new Created by alice");
	for (i = 0; i < TOP_EVENTS + 5; i++)
		top_model_note(&m, 0, "note %d", i);
	assert_int_equal(m.nevents, TOP_EVENTS);
	assert_int_equal(m.events_total, TOP_EVENTS + 8);
	assert_string_equal(top_model_event(&m, 0)->text, "note 68");
	assert_string_equal(top_model_event(&m, TOP_EVENTS - 1)->text, "note 5");
	assert_null(top_model_event(&m, TOP_EVENTS));
	top_model_free(&m);
}

static void test_formats(void **state)
{
	char buf[128];
	enum top_col c;

	(void)state;
	top_format_uptime(buf, sizeof(buf), 0);
	assert_string_equal(buf, "00:00:00");
	top_format_uptime(buf, sizeof(buf), 90061LL * 1000000000);
	assert_string_equal(buf, "1.01:01:01");
	top_action_command(buf, sizeof(buf), TOP_ACT_TURNOFF, "web1");
	assert_string_equal(buf, "hvctl -c 'Stop-VM web1 -TurnOff'");
	top_action_command(buf, sizeof(buf), TOP_ACT_START, "my vm");
	assert_string_equal(buf, "hvctl -c 'Start-VM \"my vm\"'");
	top_action_command(buf, sizeof(buf), TOP_ACT_PAUSE, "it's $x");
	assert_string_equal(buf, "hvctl -c 'Suspend-VM \"it'\\''s `$x\"'");
	top_action_command(buf, sizeof(buf), TOP_ACT_RESUME, "-odd");
	assert_string_equal(buf, "hvctl -c 'Resume-VM \"-odd\"'");
	top_hvctl_script(buf, sizeof(buf), "Connect-VMConsole", "db", "");
	assert_string_equal(buf, "Connect-VMConsole db");
	assert_int_equal(top_col_parse("CPU", &c), 0);
	assert_int_equal(c, TOP_COL_CPU);
	assert_int_equal(top_col_parse("MemAssigned(M)", &c), 0);
	assert_int_equal(c, TOP_COL_MEMORY);
	assert_int_equal(top_col_parse("colour", &c), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_model_samples),
		cmocka_unit_test(test_model_details),
		cmocka_unit_test(test_model_events),
		cmocka_unit_test(test_formats),
		cmocka_unit_test_setup_teardown(test_frames, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_events, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_running, hvd_setup, hvd_teardown),
		cmocka_unit_test(test_unreachable),
		cmocka_unit_test(test_usage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
