/*
 * Connect-VMConsole: the terminal becomes the VM's serial console.  Keys go to the guest
 * (VM.Console.Input), its output arrives as stream frames; Ctrl-] leaves.  Without a
 * terminal, standard input is sent as it comes and the output is copied until the VM stops
 * or the input ends and a quiet second passes.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli.h"

#define ESCAPE 0x1d /* Ctrl-] */

static int send_input(struct cli_ctx *ctx, const char *id, const char *buf, size_t len)
{
	struct wire_value *args = wire_object("Arguments"), *reply = NULL;
	int rc;

	wire_object_add(args, "Id", wire_string(id));
	wire_object_add(args, "Bytes", wire_bytes(buf, len));
	rc = cli_call(ctx, WIRE_PROC_VM_CONSOLE_INPUT, args, &reply);
	wire_value_unref(args);
	wire_value_unref(reply);
	return rc;
}

/* Copies the console output that has arrived; false once the VM stopped. */
static bool drain(struct cli_ctx *ctx, int timeout_ms)
{
	struct wire_frame f;
	int rc;

	while ((rc = wire_conn_next_event(ctx->conn, timeout_ms, &f)) == 0) {
		bool end = f.kind == WIRE_KIND_STREAM_END;

		if (f.kind == WIRE_KIND_STREAM && f.payload && f.payload->type == WIRE_BYTES) {
			if (write(1, f.payload->str.p, f.payload->str.len) < 0)
				end = true;
		}
		wire_frame_clear(&f);
		if (end)
			return false;
		timeout_ms = 0;
	}
	return rc == -EAGAIN;
}

int cli_run_console(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	struct wire_value *args = wire_object("Arguments"), *reply = NULL;
	const char *id = NULL;
	struct termios saved, raw;
	bool tty = isatty(0), input_open = true;
	int64_t quiet = 0;
	int rc;

	wire_object_add(args, "Name", wire_value_ref(cli_arg(b, "Name")));
	rc = cli_call(ctx, WIRE_PROC_VM_CONSOLE_ATTACH, args, &reply);
	wire_value_unref(args);
	if (rc)
		return -1;
	if (!reply->list.n || wire_object_get_string(reply->list.items[0], "Id", &id)) {
		wire_value_unref(reply);
		cli_error(ctx, "hvd did not say which VM it attached to.");
		return -1;
	}
	if (tty) {
		fprintf(stderr, "Connected to the console of %s; Ctrl-] leaves.\r\n", cli_arg(b, "Name")->str.p);
		tcgetattr(0, &saved);
		raw = saved;
		cfmakeraw(&raw);
		tcsetattr(0, TCSANOW, &raw);
	}
	for (;;) {
		struct pollfd p[2] = { { .fd = input_open ? 0 : -1, .events = POLLIN },
				       { .fd = wire_conn_fd(ctx->conn), .events = POLLIN } };
		char buf[1024];
		ssize_t n;

		if (poll(p, 2, 1000) < 0 && errno != EINTR)
			break;
		if (!drain(ctx, 0))
			break;
		if (p[1].revents & POLLIN)
			quiet = 0;
		else if (!input_open && ++quiet >= 2)
			break; /* input over, and the guest quiet for two seconds in a row */
		if (!(p[0].revents & (POLLIN | POLLHUP)))
			continue;
		n = read(0, buf, sizeof(buf));
		if (n <= 0) {
			input_open = false;
			if (tty)
				break;
			continue;
		}
		if (tty && memchr(buf, ESCAPE, (size_t)n)) {
			n = (char *)memchr(buf, ESCAPE, (size_t)n) - buf;
			if (n > 0)
				send_input(ctx, id, buf, (size_t)n);
			break;
		}
		if (send_input(ctx, id, buf, (size_t)n))
			break;
	}
	if (tty) {
		tcsetattr(0, TCSANOW, &saved);
		fprintf(stderr, "\r\nLeft the console of %s.\n", cli_arg(b, "Name")->str.p);
	}
	{
		struct wire_value *d = wire_object("Arguments"), *r = NULL;

		if (cli_call(ctx, WIRE_PROC_VM_CONSOLE_DETACH, d, &r) == 0)
			wire_value_unref(r);
		wire_value_unref(d);
	}
	wire_value_unref(reply);
	return 0;
}
