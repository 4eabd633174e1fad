/* Integration: a real hvd on a private socket and state dir, driven by real hvctl runs and
 * by raw, hostile clients. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <grp.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/daemon/harness.h"
#include "wire-protocol/conn.h"


static void hvctl_ok(const struct hvd_instance *h, const char *script, struct run_result *r)
{
	hvctl_run(h, NULL, script, r, NULL);
	if (r->status != 0)
		fail_msg("hvctl -c '%s' exited %d:\n%s%s", script, r->status, r->out, r->err);
}

/* The "must show": New-VM, Get-VM as JSON, and the VM survives a daemon restart. */
static void test_new_vm_json_and_restart(void **state)
{
	struct hvd_instance *h = *state;
	struct run_result r;

	hvctl_ok(h, "New-VM -Name web1 -MemoryStartupBytes 512MB -ProcessorCount 2", &r);
	assert_contains(r.out, "web1");
	run_result_free(&r);
	hvctl_run(h, NULL, "Get-VM web1", &r, "-o", "json", NULL);
	assert_int_equal(r.status, 0);
	assert_contains(r.out, "\"Name\": \"web1\"");
	assert_contains(r.out, "\"ProcessorCount\": 2");
	assert_contains(r.out, "\"MemoryStartup\": 536870912");
	assert_contains(r.out, "\"State\": \"Off\"");
	assert_true(r.out[0] == '{'); /* one object, not an array */
	run_result_free(&r);

	hvd_stop(h, true); /* killed, not asked */
	hvd_start_again(h);
	hvctl_run(h, NULL, "(Get-VM web1).MemoryStartup; (Get-VM web1).ProcessorCount", &r, NULL);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "536870912\n2\n");
	run_result_free(&r);
}

static void test_default_table(void **state)
{
	struct hvd_instance *h = *state;
	struct run_result r;

	hvctl_ok(h, "New-VM a1 | Out-Null; New-VM b2 -MemoryStartupBytes 1GB", &r);
	run_result_free(&r);
	hvctl_ok(h, "Get-VM", &r);
	assert_contains(r.out, "Name State CPUUsage(%) MemoryAssigned(M) Uptime   Status             Version\n");
	assert_contains(r.out, "a1   Off             0                 0 00:00:00 Operating normally 1.0\n");
	run_result_free(&r);
	hvctl_ok(h, "Get-VM | Where-Object State -eq Off | Sort-Object MemoryStartup -Descending | "
		    "Select-Object -First 1 -ExpandProperty Name", &r);
	assert_string_equal(r.out, "b2\n");
	run_result_free(&r);
	hvctl_ok(h, "Get-VM b* | Set-VMProcessor -Count 4; Get-VMProcessor b2 | ForEach-Object { $_.Count * 10 }", &r);
	assert_string_equal(r.out, "40\n");
	run_result_free(&r);
	hvctl_ok(h, "Get-VM -Name a1 | Select-Object Name,@{Name='MemMB'; Expression={$_.MemoryStartup/1MB}} | ConvertTo-Json -Compress", &r);
	assert_string_equal(r.out, "{\"Name\":\"a1\",\"MemMB\":512}\n");
	run_result_free(&r);
	hvctl_run(h, NULL, "Get-VM", &r, "-o", "csv", NULL);
	assert_contains(r.out, "\"Name\",\"Id\",\"State\"");
	run_result_free(&r);
	hvctl_run(h, NULL, "Get-VM", &r, "-o", "jsonl", NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strchr(r.out, '\n'));
	assert_non_null(strchr(strchr(r.out, '\n') + 1, '\n'));
	run_result_free(&r);
}

static void test_ranges_named(void **state)
{
	static const struct {
		const char *script, *want;
	} cases[] = {
		{ "Set-VMProcessor a -Reserve 150", "Invalid value 150 for parameter -Reserve: it must be between 0 and 100" },
		{ "Set-VMProcessor a -RelativeWeight 0", "-RelativeWeight: it must be between 1 and 10000" },
		{ "Set-VMProcessor a -Count 241", "-Count: it must be between 1 and 240" },
		{ "Set-VMMemory a -Buffer 3", "Invalid value 3 for parameter -Buffer: it must be between 5 and 2000" },
		{ "Set-VMMemory a -Priority 101", "-Priority: it must be between 0 and 100" },
		{ "Set-VMMemory a -StartupBytes 500000000", "-StartupBytes: memory must be a multiple of 2MB" },
		{ "New-VM x -MemoryStartupBytes 16MB", "-MemoryStartupBytes: memory must be between 32MB" },
		{ "New-VM x -ProcessorCount 0", "-ProcessorCount: it must be between 1 and 240" },
		{ "New-VM 'bad*name'", "cannot contain" },
		{ "New-VM a", "A virtual machine named \"a\" already exists" },
		{ "Set-VMMemory a -DynamicMemoryEnabled $true -MinimumBytes 1GB", "minimum (1073741824) <= startup" },
		{ "Set-VMProcessor a -Count lots", "Cannot bind parameter 'Count'" },
		{ "Get-VM nope", "Hyper-V was unable to find a virtual machine with name \"nope\"" },
		{ "Set-VMProcessor -Count 2", "Name the virtual machine with -VMName" },
	};
	struct hvd_instance *h = *state;
	struct run_result r;
	size_t i;

	hvctl_ok(h, "New-VM a", &r);
	run_result_free(&r);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		hvctl_run(h, NULL, cases[i].script, &r, NULL);
		if (r.status != 1 || !strstr(r.err, cases[i].want))
			fail_msg("%s: exit %d, stderr:\n%s\nwanted: %s", cases[i].script, r.status, r.err, cases[i].want);
		run_result_free(&r);
	}
	/* Nothing was changed by the refused calls. */
	hvctl_run(h, NULL, "Get-VMProcessor a | ConvertTo-Json -Compress", &r, NULL);
	assert_contains(r.out, "\"Count\":1,\"Reserve\":0,\"Maximum\":100,\"RelativeWeight\":100");
	run_result_free(&r);
}

static void test_exit_codes(void **state)
{
	struct hvd_instance *h = *state;
	struct run_result r;

	hvctl_run(NULL, "unix:///nonexistent/hvd.sock", "Get-VM", &r, NULL);
	assert_int_equal(r.status, 3);
	assert_contains(r.err, "cannot connect to hvd at /nonexistent/hvd.sock");
	run_result_free(&r);
	hvctl_run(h, NULL, "Get-VM | Where-Object { $_.Name -eq ", &r, NULL);
	assert_int_equal(r.status, 2);
	assert_contains(r.err, "-c:1:");
	run_result_free(&r);
	hvctl_run(h, NULL, "Get-Vmm", &r, NULL);
	assert_int_equal(r.status, 1);
	assert_contains(r.err, "The term 'Get-Vmm' is not recognized");
	run_result_free(&r);
	hvctl_run(h, NULL, "Get-VM -Nmae x", &r, NULL);
	assert_int_equal(r.status, 1);
	assert_contains(r.err, "A parameter cannot be found that matches parameter name 'Nmae'");
	run_result_free(&r);
	hvctl_run(h, NULL, "Set-VMMemory x -M 1GB", &r, NULL);
	assert_int_equal(r.status, 1);
	assert_contains(r.err, "ambiguous. Possible matches include: -MinimumBytes -MaximumBytes");
	run_result_free(&r);
}

static void test_read_only_socket(void **state)
{
	struct hvd_instance *h = *state;
	struct run_result r;
	char uri[400], path[400];
	FILE *f;
	char line[4096];
	bool refused_audited = false;

	hvctl_ok(h, "New-VM ro1", &r);
	run_result_free(&r);
	snprintf(uri, sizeof(uri), "unix://%s", h->ro_sock);
	hvctl_run(h, uri, "Get-VM ro1 | Select-Object -ExpandProperty Name", &r, NULL);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "ro1\n");
	run_result_free(&r);
	hvctl_run(h, uri, "New-VM ro2", &r, NULL);
	assert_int_equal(r.status, 1);
	assert_contains(r.err, "refused on the read-only socket");
	run_result_free(&r);
	hvctl_run(h, uri, "Remove-VM ro1 -Force; Set-VMProcessor ro1 -Count 2", &r, NULL);
	assert_int_equal(r.status, 1);
	run_result_free(&r);
	hvctl_ok(h, "(Get-VM).Count", &r);
	assert_string_equal(r.out, "1\n");
	run_result_free(&r);
	/* The audit log records who did what, refusals included. */
	snprintf(path, sizeof(path), "%s/audit.jsonl", h->state);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	assert_contains(line, "\"Procedure\":\"VM.New\"");
	assert_contains(line, "\"Result\":\"OK\"");
	assert_contains(line, "\"Uid\":");
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "\"Result\":\"PermissionDenied\"") && strstr(line, "hvd-ro.sock"))
			refused_audited = true;
	fclose(f);
	assert_true(refused_audited);
}

static int raw_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Reads until the daemon closes the connection (or 5 s pass); returns what came. */
static size_t read_until_closed(int fd, char *buf, size_t cap)
{
	size_t have = 0;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 5000) <= 0)
			fail_msg("hvd neither answered nor closed the connection");
		n = read(fd, buf + have, cap - have);
		if (n <= 0)
			return have;
		have += (size_t)n;
		assert_true(have < cap);
	}
}

static void assert_daemon_answers(const struct hvd_instance *h)
{
	struct wire_conn *c;
	struct wire_value *reply;
	int32_t st;

	assert_int_equal(wire_conn_open_unix(h->sock, &c), 0);
	assert_int_equal(wire_conn_call(c, WIRE_PROC_HELLO, NULL, &st, &reply), 0);
	assert_int_equal(st, WIRE_OK);
	wire_value_unref(reply);
	wire_conn_free(c);
}

static void test_hostile_clients(void **state)
{
	struct hvd_instance *h = *state;
	char buf[65536];
	size_t n;
	int fd;

	/* Garbage: a length shorter than a header. */
	fd = raw_connect(h->sock);
	assert_int_equal(write(fd, "\x05\x00\x00\x00garbage garbage", 19), 19);
	n = read_until_closed(fd, buf, sizeof(buf));
	buf[n] = '\0';
	assert_true(n > WIRE_HEADER_SIZE);
	assert_non_null(memmem(buf, n, "shorter than a frame header", 27));
	close(fd);
	assert_daemon_answers(h);

	/* A frame longer than the limit: refused before anything is allocated. */
	fd = raw_connect(h->sock);
	assert_int_equal(write(fd, "\xff\xff\xff\x7f", 4), 4);
	n = read_until_closed(fd, buf, sizeof(buf));
	assert_non_null(memmem(buf, n, "over the limit", 14));
	close(fd);
	assert_daemon_answers(h);

	/* A client that goes away in the middle of a frame. */
	fd = raw_connect(h->sock);
	assert_int_equal(write(fd, "\x40\x00\x00\x00\x01\x01\x00\x00", 8), 8);
	close(fd);
	assert_daemon_answers(h);

	/* A well-framed call with a malformed payload gets an error, and the connection lives. */
	{
		struct wire_conn *c;
		struct wire_value *reply;
		int32_t st;
		uint8_t frame[WIRE_HEADER_SIZE + 2] = { WIRE_HEADER_SIZE + 2, 0, 0, 0, WIRE_VERSION, WIRE_KIND_CALL, 0, 0,
							9, 0, 0, 0, WIRE_PROC_VM_LIST, 0, 0, 0, 0, 0, 0, 0, 0x0b, 0x00 };

		fd = raw_connect(h->sock);
		assert_int_equal(write(fd, frame, sizeof(frame)), (ssize_t)sizeof(frame));
		assert_int_equal(wire_conn_from_fds(fd, fd, &c), 0);
		assert_int_equal(wire_conn_wait(c, 9, &st, &reply), 0);
		assert_int_equal(st, WIRE_E_PROTOCOL);
		assert_contains(wire_object_get(reply, "Message")->str.p, "malformed payload");
		wire_value_unref(reply);
		assert_int_equal(wire_conn_call(c, WIRE_PROC_HELLO, NULL, &st, &reply), 0);
		assert_int_equal(st, WIRE_OK);
		wire_value_unref(reply);
		/* A change that names no VM is refused: "all" is never implied. */
		assert_int_equal(wire_conn_call(c, WIRE_PROC_VM_REMOVE, NULL, &st, &reply), 0);
		assert_int_equal(st, WIRE_E_INVALID_ARGUMENT);
		assert_contains(wire_object_get(reply, "Message")->str.p, "Name the virtual machines");
		wire_value_unref(reply);
		/* An unknown procedure, and arguments of the wrong shape. */
		assert_int_equal(wire_conn_call(c, 4242, NULL, &st, &reply), 0);
		assert_int_equal(st, WIRE_E_UNKNOWN_PROCEDURE);
		wire_value_unref(reply);
		{
			struct wire_value *args = wire_string("oops");

			assert_int_equal(wire_conn_call(c, WIRE_PROC_VM_NEW, args, &st, &reply), 0);
			assert_int_equal(st, WIRE_E_PROTOCOL);
			wire_value_unref(reply);
			wire_value_unref(args);
		}
		wire_conn_free(c);
	}
	assert_daemon_answers(h);
}

/* A client that sends calls and never reads its replies cannot hold up anyone else. */
static void test_slow_client(void **state)
{
	struct hvd_instance *h = *state;
	struct wire_buf calls = { 0 };
	struct run_result r;
	int fd, i, flags;
	size_t off = 0;

	hvctl_ok(h, "New-VM s1; New-VM s2; New-VM s3", &r);
	run_result_free(&r);
	fd = raw_connect(h->sock);
	for (i = 0; i < 20000; i++) {
		struct wire_frame f = { .kind = WIRE_KIND_CALL, .serial = (uint32_t)i + 1, .procedure = WIRE_PROC_VM_LIST };

		assert_int_equal(wire_frame_encode(&f, &calls), 0);
	}
	flags = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	while (off < calls.len) {
		ssize_t n = write(fd, calls.data + off, calls.len - off);

		if (n <= 0)
			break; /* the daemon stopped reading us: fine */
		off += (size_t)n;
	}
	/* Everyone else is still served promptly. */
	for (i = 0; i < 3; i++)
		assert_daemon_answers(h);
	hvctl_ok(h, "(Get-VM).Count", &r);
	assert_string_equal(r.out, "3\n");
	run_result_free(&r);
	close(fd);
	wire_buf_free(&calls);
}

static void test_many_clients_and_events(void **state)
{
	struct hvd_instance *h = *state;
	struct wire_conn *conns[64], *sub;
	struct wire_value *reply;
	struct wire_frame ev;
	struct run_result r;
	uint32_t serials[64];
	int32_t st;
	int i;

	assert_int_equal(wire_conn_open_unix(h->ro_sock, &sub), 0);
	assert_int_equal(wire_conn_call(sub, WIRE_PROC_EVENTS_SUBSCRIBE, NULL, &st, &reply), 0);
	assert_int_equal(st, WIRE_OK);
	wire_value_unref(reply);
	for (i = 0; i < 64; i++) {
		assert_int_equal(wire_conn_open_unix(h->sock, &conns[i]), 0);
		assert_int_equal(wire_conn_send(conns[i], WIRE_PROC_HOST_GET, NULL, &serials[i]), 0);
	}
	for (i = 63; i >= 0; i--) {
		assert_int_equal(wire_conn_wait(conns[i], serials[i], &st, &reply), 0);
		assert_int_equal(st, WIRE_OK);
		assert_string_equal(reply->list.items[0]->obj.type_name, "VMHost");
		wire_value_unref(reply);
		wire_conn_free(conns[i]);
	}
	hvctl_ok(h, "New-VM ev1 | Out-Null; Rename-VM ev1 ev2; Set-VM ev2 -Notes hello; Remove-VM ev2 -Force", &r);
	run_result_free(&r);
	{
		static const char *const want[][2] = {
			{ "Created", "ev1" }, { "Renamed", "ev2" }, { "Changed", "ev2" }, { "Removed", "ev2" },
		};

		for (i = 0; i < 4; i++) {
			assert_int_equal(wire_conn_next_event(sub, 5000, &ev), 0);
			assert_int_equal(ev.kind, WIRE_KIND_EVENT);
			assert_string_equal(wire_object_get(ev.payload, "EventType")->str.p, want[i][0]);
			assert_string_equal(wire_object_get(ev.payload, "VMName")->str.p, want[i][1]);
			wire_frame_clear(&ev);
		}
	}
	wire_conn_free(sub);

	/* Samples: every VM, every second, in one event. */
	assert_int_equal(wire_conn_open_unix(h->ro_sock, &sub), 0);
	assert_int_equal(wire_conn_call(sub, WIRE_PROC_SAMPLES_SUBSCRIBE, NULL, &st, &reply), 0);
	assert_int_equal(st, WIRE_OK);
	assert_string_equal(reply->list.items[0]->obj.type_name, "VMSamples");
	wire_value_unref(reply);
	assert_int_equal(wire_conn_next_event(sub, 3000, &ev), 0);
	assert_string_equal(ev.payload->obj.type_name, "VMSamples");
	assert_non_null(wire_object_get(ev.payload, "VMs"));
	wire_frame_clear(&ev);
	wire_conn_free(sub);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void replace_in_file(const char *path, const char *from, const char *to)
{
	char text[8192], out[8300], *at;
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	at = strstr(text, from);
	assert_non_null(at);
	snprintf(out, sizeof(out), "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
	write_file(path, out);
}

static char *vm_xml_path(const struct hvd_instance *h, const char *name)
{
	struct run_result r;
	char script[128], *p;

	snprintf(script, sizeof(script), "(Get-VM %s).Id", name);
	hvctl_ok(h, script, &r);
	r.out[strcspn(r.out, "\n")] = '\0';
	assert_true(asprintf(&p, "%s/vms/%s/vm.xml", h->state, r.out) > 0);
	run_result_free(&r);
	return p;
}

static void test_damaged_definitions(void **state)
{
	struct hvd_instance *h = *state;
	struct run_result r;
	char *bad1, *bad2;

	hvctl_ok(h, "New-VM good | Out-Null; New-VM broken1 | Out-Null; New-VM broken2 | Out-Null", &r);
	run_result_free(&r);
	bad1 = vm_xml_path(h, "broken1");
	bad2 = vm_xml_path(h, "broken2");
	hvd_stop(h, false);
	write_file(bad1, "<?xml version=\"1.0\"?>\n<vm xmlns=\"urn:hvkit:vm:1\" version=\"1\">\n  <id>trunc");
	replace_in_file(bad2, "count=\"1\"", "count=\"999\""); /* valid XML, against the schema */
	hvd_start_again(h);
	hvctl_ok(h, "Get-VM good | Select-Object -ExpandProperty State", &r);
	assert_string_equal(r.out, "Off\n");
	run_result_free(&r);
	hvctl_ok(h, "Get-VM | Where-Object State -eq OffCritical | Select-Object -ExpandProperty Status", &r);
	assert_contains(r.out, "vm.xml: line 3"); /* the truncated one */
	assert_contains(r.out, "'999'");         /* the one against the schema */
	run_result_free(&r);
	/* Nothing but Remove-VM works on them, and it does. */
	hvctl_run(h, NULL, "Get-VM | Where-Object State -eq OffCritical | Set-VMProcessor -Count 2", &r, NULL);
	assert_int_equal(r.status, 1);
	assert_contains(r.err, "could not be loaded");
	run_result_free(&r);
	hvctl_ok(h, "Get-VM | Where-Object State -eq OffCritical | Remove-VM -Force; (Get-VM).Count", &r);
	assert_string_equal(r.out, "1\n");
	run_result_free(&r);
	free(bad1);
	free(bad2);
}

static void test_atomic_writes(void **state)
{
	struct hvd_instance *h = *state;
	struct run_result r;
	char *path, tmp[600];

	hvctl_ok(h, "New-VM at1 | Out-Null; Set-VM at1 -Notes 'a <b> & \"c\"' -ProcessorCount 3", &r);
	run_result_free(&r);
	path = vm_xml_path(h, "at1");
	snprintf(tmp, sizeof(tmp), "%s", path);
	strcpy(strrchr(tmp, '/'), "/.vm.xml.tmp");
	assert_int_not_equal(access(path, F_OK), -1);
	assert_int_equal(access(tmp, F_OK), -1);
	hvd_stop(h, false);
	hvd_start_again(h);
	hvctl_ok(h, "(Get-VM at1).Notes; (Get-VM at1).ProcessorCount", &r);
	assert_string_equal(r.out, "a <b> & \"c\"\n3\n");
	run_result_free(&r);
	free(path);
}

/* Issue 12's must-show pipeline, -WhatIf, confirmation without a terminal, filters sent to
 * hvd, -ErrorAction. */
static void test_language_against_hvd(void **state)
{
	struct hvd_instance *h = *state;
	struct wire_conn *c;
	struct wire_value *args, *filter, *reply;
	struct run_result r;
	int32_t st;

	hvctl_ok(h, "New-VM zeta -ProcessorCount 2 | Out-Null; New-VM alpha -ProcessorCount 4 | Out-Null; "
		    "New-VM mid | Out-Null; New-VM beta -ProcessorCount 2 | Out-Null", &r);
	run_result_free(&r);
	hvctl_run(h, NULL, "Get-VM | Where-Object { $_.ProcessorCount -ge 2 } | Sort-Object Name | Select-Object Name,ProcessorCount",
		  &r, "-o", "json", NULL);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "[\n  {\n    \"Name\": \"alpha\",\n    \"ProcessorCount\": 4\n  },\n"
				   "  {\n    \"Name\": \"beta\",\n    \"ProcessorCount\": 2\n  },\n"
				   "  {\n    \"Name\": \"zeta\",\n    \"ProcessorCount\": 2\n  }\n]\n");
	run_result_free(&r);

	/* -WhatIf changes nothing and says what it would have done. */
	hvctl_ok(h, "Get-VM | Remove-VM -WhatIf; Set-VMProcessor alpha -Count 8 -WhatIf; New-VM ghost -WhatIf", &r);
	assert_contains(r.out, "What if: Performing the operation \"Remove-VM\" on target \"zeta\".");
	assert_contains(r.out, "What if: Performing the operation \"Set-VMProcessor\" on target \"alpha\".");
	assert_contains(r.out, "What if: Performing the operation \"New-VM\" on target \"ghost\".");
	run_result_free(&r);
	hvctl_ok(h, "(Get-VM).Count; (Get-VMProcessor alpha).Count", &r);
	assert_string_equal(r.out, "4\n4\n");
	run_result_free(&r);

	/* Remove-VM asks; with no terminal it refuses unless told not to ask, and never hangs. */
	hvctl_run(h, NULL, "Remove-VM mid", &r, NULL);
	assert_int_equal(r.status, 1);
	assert_contains(r.err, "needs confirmation and there is no terminal to ask on: add -Force or -Confirm:$false");
	run_result_free(&r);
	hvctl_ok(h, "Remove-VM mid -Confirm:$false; (Get-VM).Count", &r);
	assert_string_equal(r.out, "3\n");
	run_result_free(&r);

	/* One failing item does not stop the rest; the exit status says. */
	hvctl_run(h, NULL, "Set-VMProcessor nope,beta -Count 3; (Get-VMProcessor beta).Count", &r, NULL);
	assert_int_equal(r.status, 1);
	assert_string_equal(r.out, "3\n");
	assert_contains(r.err, "\"nope\"");
	run_result_free(&r);
	hvctl_run(h, NULL, "Get-VM nope -ErrorAction SilentlyContinue; 'still here'", &r, NULL);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.err, "");
	run_result_free(&r);
	hvctl_run(h, NULL, "Get-VM nope -ErrorAction Stop; 'not here'", &r, NULL);
	assert_int_equal(r.status, 1);
	assert_string_equal(r.out, "");
	run_result_free(&r);

	/* The filter hvd evaluates for Get-VM | Where-Object. */
	hvctl_ok(h, "Get-VM | Where-Object ProcessorCount -gt 2 | Select-Object -ExpandProperty Name", &r);
	assert_string_equal(r.out, "alpha\nbeta\n");
	run_result_free(&r);
	assert_int_equal(wire_conn_open_unix(h->sock, &c), 0);
	args = wire_object("Arguments");
	filter = wire_object("Filter");
	wire_object_set(filter, "Property", wire_string("Name"));
	wire_object_set(filter, "Operator", wire_string("-like"));
	wire_object_set(filter, "Value", wire_string("Z*"));
	wire_object_set(args, "Filter", filter);
	assert_int_equal(wire_conn_call(c, WIRE_PROC_VM_LIST, args, &st, &reply), 0);
	assert_int_equal(st, WIRE_OK);
	assert_int_equal(reply->list.n, 1);
	assert_string_equal(wire_object_get(reply->list.items[0], "Name")->str.p, "zeta");
	wire_value_unref(reply);
	wire_object_set(filter, "Operator", wire_string("-bogus"));
	assert_int_equal(wire_conn_call(c, WIRE_PROC_VM_LIST, args, &st, &reply), 0);
	assert_int_equal(st, WIRE_E_INVALID_ARGUMENT);
	wire_value_unref(reply);
	wire_value_unref(args);
	wire_conn_free(c);
}

/* `hvctl --bridge` (what SSH runs on the far host) carries the protocol over a pipe pair. */
static void test_bridge(void **state)
{
	struct hvd_instance *h = *state;
	struct wire_conn *c;
	struct wire_value *reply;
	struct run_result r;
	int to_child[2], from_child[2], st;
	int32_t status;
	pid_t pid;

	hvctl_ok(h, "New-VM br1", &r);
	run_result_free(&r);
	assert_int_equal(pipe(to_child), 0);
	assert_int_equal(pipe(from_child), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(to_child[0], 0);
		dup2(from_child[1], 1);
		close(to_child[0]);
		close(to_child[1]);
		close(from_child[0]);
		close(from_child[1]);
		execl(build_path("cli/hvctl"), "hvctl", "--bridge", "--socket", h->sock, (char *)NULL);
		_exit(127);
	}
	close(to_child[0]);
	close(from_child[1]);
	assert_int_equal(wire_conn_from_fds(from_child[0], to_child[1], &c), 0);
	assert_int_equal(wire_conn_call(c, WIRE_PROC_VM_LIST, NULL, &status, &reply), 0);
	assert_int_equal(status, WIRE_OK);
	assert_int_equal(reply->list.n, 1);
	assert_string_equal(wire_object_get(reply->list.items[0], "Name")->str.p, "br1");
	wire_value_unref(reply);
	wire_conn_free(c); /* closes both pipes: the bridge sees the end and exits */
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	{
		char *argv[] = { (char *)build_path("cli/hvctl"), "--bridge", "--socket", "/nonexistent/hvd.sock", NULL };

		run_program(argv, NULL, &r);
		assert_int_equal(r.status, 3);
		assert_contains(r.err, "cannot connect to hvd at /nonexistent/hvd.sock");
		run_result_free(&r);
	}
}

/* Runs hvctl as the user nobody (optionally with a supplementary group). */
static void hvctl_as_nobody(const char *uri, const char *script, gid_t extra_group, struct run_result *r)
{
	char *argv[] = { (char *)build_path("cli/hvctl"), "-H", (char *)uri, "-c", (char *)script, NULL };
	int out[2];
	pid_t pid;
	int st;

	assert_int_equal(pipe(out), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		gid_t groups[1] = { extra_group };

		dup2(out[1], 1);
		dup2(out[1], 2);
		if (setgroups(extra_group ? 1 : 0, groups) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(99);
		execv(argv[0], argv);
		_exit(127);
	}
	close(out[1]);
	memset(r, 0, sizeof(*r));
	r->out = calloc(1, 65536);
	/* hvctl may write its output in several pieces: read to the end, not once. */
	for (size_t got = 0; got < 65535;) {
		ssize_t n = read(out[0], r->out + got, 65535 - got);

		if (n < 0 && errno == EINTR)
			continue;
		assert_true(n >= 0);
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(out[0]);
	waitpid(pid, &st, 0);
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
	r->err = strdup("");
}

/* Who may do what: the main socket is for its owner and group; everyone gets the read-only
 * one; every attempt that reaches hvd is in the audit log with who made it. */
static void test_access_control(void **state)
{
	struct hvd_instance *h = *state;
	struct run_result r;
	char uri[400], ro[400], path[400];
	struct group *g;
	FILE *f;
	char line[4096];
	bool seen = false;

	if (geteuid() != 0) {
		skip();
		return;
	}
	chmod(h->dir, 0755); /* others may reach the sockets; the sockets' own modes decide */
	hvctl_ok(h, "New-VM guarded", &r);
	run_result_free(&r);
	snprintf(uri, sizeof(uri), "unix://%s", h->sock);
	snprintf(ro, sizeof(ro), "unix://%s", h->ro_sock);
	hvctl_as_nobody(uri, "Get-VM", 0, &r);
	assert_int_equal(r.status, 3);
	assert_contains(r.out, "Permission denied");
	run_result_free(&r);
	hvctl_as_nobody(ro, "(Get-VM guarded).Name", 0, &r);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "guarded\n");
	run_result_free(&r);
	hvctl_as_nobody(ro, "Start-VM guarded", 0, &r);
	assert_int_equal(r.status, 1);
	assert_contains(r.out, "refused on the read-only socket");
	run_result_free(&r);
	snprintf(path, sizeof(path), "%s/audit.jsonl", h->state);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		seen |= strstr(line, "\"Uid\":65534") && strstr(line, "VM.Start") && strstr(line, "PermissionDenied") &&
			strstr(line, "\"Target\":\"");
	fclose(f);
	assert_true(seen);

	/* With --group, members of the group may use the main socket. */
	if (system("getent group hvkittest >/dev/null || groupadd hvkittest 2>/dev/null") != 0 ||
	    !(g = getgrnam("hvkittest")))
		return;
	hvd_stop(h, false);
	h->extra[0] = "--group";
	h->extra[1] = "hvkittest";
	hvd_start_again(h);
	hvctl_as_nobody(uri, "(Get-VM guarded).State", g->gr_gid, &r);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "Off\n");
	run_result_free(&r);
	hvctl_as_nobody(uri, "Get-VM", 0, &r);
	assert_int_equal(r.status, 3);
	run_result_free(&r);
}

/* The VHD cmdlets through hvd, on real files that qemu-img reads too. */
static void test_vhd_cmdlets(void **state)
{
	struct hvd_instance *h = *state;
	struct run_result r;
	char script[8192], path[2048];

	snprintf(script, sizeof(script),
		 "New-VHD %s/d.vhdx 64MB | Select-Object VhdType, Size, BlockSize | ConvertTo-Json -Compress\n"
		 "New-VHD %s/c.avhdx -Differencing -ParentPath %s/d.vhdx | Select-Object -ExpandProperty ParentPath\n"
		 "Test-VHD %s/c.avhdx\n"
		 "(Convert-VHD %s/c.avhdx %s/f.vhdx -VHDType Fixed -PassThru).VhdType\n"
		 "(Merge-VHD %s/c.avhdx -PassThru).Path\n"
		 "(Resize-VHD %s/d.vhdx 128MB -PassThru).Size\n"
		 "Optimize-VHD %s/d.vhdx\n"
		 "(Get-VHD %s/d.vhdx, %s/f.vhdx).VhdType",
		 h->dir, h->dir, h->dir, h->dir, h->dir, h->dir, h->dir, h->dir, h->dir, h->dir, h->dir);
	hvctl_run(h, NULL, script, &r, NULL);
	if (r.status)
		fail_msg("exit %d\n%s%s", r.status, r.out, r.err);
	snprintf(path, sizeof(path),
		 "{\"VhdType\":\"Dynamic\",\"Size\":67108864,\"BlockSize\":33554432}\n%s/d.vhdx\nTrue\nFixed\n%s/d.vhdx\n134217728\n"
		 "Dynamic\nFixed\n", h->dir, h->dir);
	assert_string_equal(r.out, path);
	run_result_free(&r);
	/* Nothing is overwritten; a damaged file is named and said what is wrong with it. */
	snprintf(script, sizeof(script), "New-VHD %s/d.vhdx 1GB", h->dir);
	hvctl_run(h, NULL, script, &r, NULL);
	assert_int_equal(r.status, 1);
	assert_contains(r.err, "already exists; hvd never overwrites one");
	run_result_free(&r);
	/* The audit log holds how each VHD call ended, not just that it was asked for. */
	{
		char line[8192], apath[600];
		FILE *f;
		int ok_new = 0, refused_new = 0;

		snprintf(apath, sizeof(apath), "%s/audit.jsonl", h->state);
		f = fopen(apath, "r");
		assert_non_null(f);
		while (fgets(line, sizeof(line), f)) {
			if (!strstr(line, "\"Procedure\":\"VHD.New\"") || !strstr(line, "/d.vhdx\",\"Arguments\""))
				continue;
			ok_new += strstr(line, "\"Result\":\"OK\"") != NULL;
			refused_new += strstr(line, "\"Result\":\"ResourceExists\"") &&
				       strstr(line, "never overwrites");
		}
		fclose(f);
		assert_int_equal(ok_new, 1);
		assert_int_equal(refused_new, 1);
	}
	snprintf(path, sizeof(path), "%s/bad.vhdx", h->dir);
	write_file(path, "not a disk");
	snprintf(script, sizeof(script), "Test-VHD %s", path);
	hvctl_run(h, NULL, script, &r, NULL);
	assert_int_equal(r.status, 1);
	assert_string_equal(r.out, "False\n");
	assert_contains(r.err, "bad.vhdx: file too short");
	run_result_free(&r);
	snprintf(script, sizeof(script), "New-VHD relative-but-remote.vhdx -SizeBytes 1MB -Fixed -Dynamic");
	hvctl_run(h, NULL, script, &r, NULL);
	assert_int_equal(r.status, 1);
	assert_contains(r.err, "Give one of -Dynamic, -Fixed and -Differencing");
	run_result_free(&r);
	/* qemu-img, where it is installed, reads what hvd wrote. */
	if (access("/usr/bin/qemu-img", X_OK) == 0) {
		char cmd[1200];

		snprintf(cmd, sizeof(cmd), "qemu-img check %s/f.vhdx >/dev/null 2>&1 && qemu-img check %s/d.vhdx >/dev/null 2>&1",
			 h->dir, h->dir);
		assert_int_equal(system(cmd), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_new_vm_json_and_restart, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_default_table, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_ranges_named, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_exit_codes, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_read_only_socket, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_hostile_clients, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_slow_client, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_many_clients_and_events, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_damaged_definitions, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_atomic_writes, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_bridge, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_access_control, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_vhd_cmdlets, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_language_against_hvd, hvd_setup, hvd_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
