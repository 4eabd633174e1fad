/*
 * hvctl's connection to hvd: the URI (-H, HVKIT_HOST, or the default socket), calls with
 * their errors reported, and `hvctl --bridge`, which relays a byte stream (what SSH runs on
 * the far host) to the local daemon.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "wire-protocol/paths.h"

/* The socket path a URI names: unix:///path, or a plain absolute path. */
static int socket_of(const char *uri, char *buf, size_t len)
{
	if (!uri || !*uri)
		return wire_path_socket(buf, len);
	if (!strncmp(uri, "unix://", 7))
		uri += 7;
	else if (uri[0] != '/')
		return -EINVAL;
	if (strlen(uri) >= len)
		return -ENAMETOOLONG;
	strcpy(buf, uri);
	return 0;
}

/* Handles what arrived while the connection sat idle (pings); false once it is closed. */
static bool conn_alive(struct wire_conn *c)
{
	struct wire_frame f;
	int rc;

	while ((rc = wire_conn_next_event(c, 0, &f)) == 0)
		wire_frame_clear(&f);
	return rc == -EAGAIN;
}

int cli_connect(struct cli_ctx *ctx)
{
	const char *uri = ctx->uri ? ctx->uri : getenv("HVKIT_HOST");
	char path[4096];
	int rc;

	if (ctx->conn && !conn_alive(ctx->conn)) {
		/* hvd closed an idle connection (a shell left at its prompt does not answer
		 * keepalives): nothing was in flight, so connecting again is safe. */
		wire_conn_free(ctx->conn);
		ctx->conn = NULL;
	}
	if (ctx->conn)
		return 0;
	if (ctx->conn_failed)
		return -1; /* already reported */
	ctx->conn_failed = true;
	ctx->no_connection = true;
	if (uri && !strncmp(uri, "ssh://", 6)) {
		if (cli_ssh_connect(uri, ctx->ssh_config, ctx->accept_new_host_key, &ctx->conn))
			return -1;
		ctx->conn_failed = false;
		ctx->no_connection = false;
		return 0;
	}
	rc = socket_of(uri, path, sizeof(path));
	if (rc) {
		fprintf(stderr, "hvctl: '%s' is not a host URI: use unix:///path/to/hvd.sock or ssh://[user@]host[:port][/socket]\n",
			uri);
		return -1;
	}
	rc = wire_conn_open_unix(path, &ctx->conn);
	if (rc) {
		fprintf(stderr, "hvctl: cannot connect to hvd at %s: %s%s\n", path, strerror(-rc),
			rc == -ENOENT || rc == -ECONNREFUSED ? " (is hvd running? start it with: hvd)" : "");
		return -1;
	}
	ctx->conn_failed = false;
	ctx->no_connection = false;
	return 0;
}

static bool is_error_record(const struct wire_value *v)
{
	return v->type == WIRE_OBJECT && !strcmp(v->obj.type_name, "ErrorRecord");
}

/* The connection broke during a call: say so, and start afresh next time. */
static int lost(struct cli_ctx *ctx, int rc)
{
	fprintf(stderr, "hvctl: lost the connection to hvd: %s\n", strerror(-rc));
	wire_conn_free(ctx->conn);
	ctx->conn = NULL;
	ctx->conn_failed = true;
	ctx->no_connection = true;
	return -1;
}

/* Reports a reply's errors (consumes payload); its other objects go to out (may be NULL).
 * -1 when the call failed as a whole; ErrorRecords inside a reply are non-terminating. */
static int take_reply(struct cli_ctx *ctx, int32_t status, struct wire_value *payload, struct wire_value *out)
{
	size_t i;

	if (status != WIRE_OK) {
		if (payload && is_error_record(payload))
			cli_error_record(ctx, payload);
		else
			cli_error(ctx, "hvd refused the call: %s", wire_status_name((enum wire_status)status));
		wire_value_unref(payload);
		return -1;
	}
	for (i = 0; payload && payload->type == WIRE_LIST && i < payload->list.n; i++) {
		if (is_error_record(payload->list.items[i]))
			cli_error_record(ctx, payload->list.items[i]);
		else if (out)
			wire_list_append(out, wire_value_ref(payload->list.items[i]));
	}
	wire_value_unref(payload);
	return 0;
}

int cli_call(struct cli_ctx *ctx, uint32_t proc, const struct wire_value *args, struct wire_value **reply)
{
	struct wire_value *payload = NULL, *list;
	int32_t status;
	int rc;

	*reply = NULL;
	if (cli_connect(ctx))
		return -1;
	rc = wire_conn_call(ctx->conn, proc, args, &status, &payload);
	if (rc)
		return lost(ctx, rc);
	list = wire_list();
	if (take_reply(ctx, status, payload, list)) {
		wire_value_unref(list);
		return -1;
	}
	*reply = list;
	return 0;
}

int cli_call_each(struct cli_ctx *ctx, uint32_t proc, const struct wire_value *args_list, struct wire_value *out)
{
	uint32_t *serials;
	size_t i;
	int rc = 0;

	if (!args_list->list.n)
		return 0;
	if (cli_connect(ctx))
		return -1;
	serials = calloc(args_list->list.n, sizeof(*serials));
	if (!serials)
		abort();
	/* All calls go out first: hvd works on them together (eight VMs start at once). */
	for (i = 0; i < args_list->list.n && rc == 0; i++)
		rc = wire_conn_send(ctx->conn, proc, args_list->list.items[i], &serials[i]);
	for (i = 0; i < args_list->list.n && rc == 0; i++) {
		struct wire_value *payload = NULL;
		int32_t status;

		rc = wire_conn_wait(ctx->conn, serials[i], &status, &payload);
		if (rc == 0)
			take_reply(ctx, status, payload, out); /* a failed call is counted; the rest go on */
	}
	free(serials);
	return rc ? lost(ctx, rc) : 0;
}

/* Copies what one descriptor has to another; false at end of input or on error. */
static bool relay(int from, int to)
{
	char buf[65536];
	ssize_t n = read(from, buf, sizeof(buf)), off = 0;

	if (n < 0 && errno == EINTR)
		return true;
	if (n <= 0)
		return false;
	while (off < n) {
		ssize_t w = write(to, buf + off, (size_t)(n - off));

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		off += w;
	}
	return true;
}

int cli_bridge(const char *socket_path)
{
	struct wire_conn *conn = NULL;
	char path[4096];
	int rc, fd;

	rc = socket_of(socket_path, path, sizeof(path));
	if (rc == 0)
		rc = wire_conn_open_unix(path, &conn);
	if (rc) {
		fprintf(stderr, "hvctl --bridge: cannot connect to hvd at %s: %s\n", socket_path ? socket_path : path,
			strerror(-rc));
		return 3;
	}
	fd = wire_conn_fd(conn);
	for (;;) {
		struct pollfd p[2] = { { .fd = 0, .events = POLLIN }, { .fd = fd, .events = POLLIN } };

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) && !relay(0, fd))
			break;
		if ((p[1].revents & (POLLIN | POLLHUP | POLLERR)) && !relay(fd, 1))
			break;
	}
	wire_conn_free(conn);
	return 0;
}
