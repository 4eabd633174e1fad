/*
 * Many hosts from one seat, as PowerShell does it: -ComputerName on every cmdlet of hvd's
 * (the cmdlet runs against each host in turn, its objects tagged PSComputerName),
 * Invoke-Command (a script block on several hosts at once: one child process each, whose
 * objects come back wire-encoded and whose errors come back prefixed with the host), and
 * Enter-PSSession / Exit-PSSession (the prompt itself works on another host).
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"

char *cli_host_uri(const char *host)
{
	char *uri;

	if (strstr(host, "://"))
		return strdup(host);
	if (asprintf(&uri, "ssh://%s", host) < 0)
		abort();
	return uri;
}

void cli_host_enter(struct cli_ctx *ctx, const char *host, struct cli_host_saved *saved)
{
	saved->uri = ctx->uri;
	saved->conn = ctx->conn;
	saved->conn_failed = ctx->conn_failed;
	ctx->uri = cli_host_uri(host);
	ctx->conn = NULL;
	ctx->conn_failed = false;
}

void cli_host_leave(struct cli_ctx *ctx, struct cli_host_saved *saved)
{
	free((char *)ctx->uri);
	wire_conn_free(ctx->conn);
	ctx->uri = saved->uri;
	ctx->conn = saved->conn;
	ctx->conn_failed = saved->conn_failed;
}

static void tag(struct wire_value *list, size_t from, const char *host)
{
	size_t i;

	for (i = from; i < list->list.n; i++)
		if (list->list.items[i]->type == WIRE_OBJECT)
			wire_object_set(list->list.items[i], "PSComputerName", wire_string(host));
}

int cli_run_on_hosts(struct cli_ctx *ctx, const struct cli_cmdlet *c, const struct cli_bound *b, struct wire_value *in,
		     struct wire_value *out)
{
	const struct wire_value *hosts = b->computers;
	size_t i;

	for (i = 0; i < hosts->list.n; i++) {
		const char *host = hosts->list.items[i]->str.p;
		struct cli_host_saved saved;
		size_t before = out->list.n;

		cli_host_enter(ctx, host, &saved);
		if (c->run(ctx, b, in, out) && !ctx->errors)
			ctx->errors++;
		if (ctx->no_connection) {
			/* One unreachable host is an error like any other: the rest go on. */
			ctx->errors++;
			ctx->no_connection = false;
		}
		tag(out, before, host);
		cli_host_leave(ctx, &saved);
	}
	return 0; /* failures were counted: what the other hosts gave goes on down the pipeline */
}

/* ---- Invoke-Command ---- */

struct job {
	const char *host;
	pid_t pid;
	int out_fd, err_fd;
	struct wire_buf out, err;
	int status;
};

/* In the child: run the block against host, write the objects to fd; exit 0, 1 or 3. */
static void run_remote_child(struct cli_ctx *ctx, const struct cli_node *block, const char *host, int fd)
{
	struct wire_value *result = NULL, *nothing = wire_null();
	struct wire_buf b = { 0 };
	size_t off = 0;
	int rc;

	ctx->uri = cli_host_uri(host);
	ctx->conn = NULL; /* the parent's connection is the parent's */
	ctx->conn_failed = false;
	ctx->errors = 0;
	ctx->no_connection = false;
	ctx->cmdlet_name = NULL;
	rc = cli_exec_block(ctx, block, nothing, &result);
	if (rc == 0 && result) {
		wire_value_encode(result, &b);
		while (off < b.len) {
			ssize_t n = write(fd, b.data + off, b.len - off);

			if (n <= 0)
				break;
			off += (size_t)n;
		}
	}
	_exit(ctx->no_connection ? 3 : rc || ctx->errors ? 1 : 0);
}

/* Adds what fd has to into; false at its end. */
static bool drain_into(int fd, struct wire_buf *into)
{
	char buf[65536];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n <= 0)
		return false;
	wire_buf_put(into, buf, (size_t)n);
	return true;
}

/* The child's error lines, each said to be from its host. */
static void report_errors(struct cli_ctx *ctx, struct job *j)
{
	size_t start = 0, i;

	for (i = 0; i < j->err.len; i++) {
		if (j->err.data[i] != '\n')
			continue;
		fprintf(stderr, "[%s] %.*s\n", j->host, (int)(i - start), (const char *)j->err.data + start);
		start = i + 1;
	}
	if (start < j->err.len)
		fprintf(stderr, "[%s] %.*s\n", j->host, (int)(j->err.len - start), (const char *)j->err.data + start);
	if (j->status != 0)
		ctx->errors++;
}

int cli_invoke_command(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	const struct wire_value *hosts = b->computers ? b->computers : cli_arg(b, "ComputerName");
	const struct cli_node *block = cli_block_node(ctx, cli_arg(b, "ScriptBlock"));
	struct job *jobs;
	size_t n, i, open_fds = 0;

	if (!hosts || !block) {
		cli_error(ctx, "Give the hosts (-ComputerName) and a script block (-ScriptBlock { ... }).");
		return -1;
	}
	n = hosts->list.n;
	jobs = calloc(n + 1, sizeof(*jobs));
	if (!jobs)
		abort();
	fflush(ctx->out);
	fflush(stderr);
	for (i = 0; i < n; i++) {
		int po[2], pe[2];

		jobs[i].host = hosts->list.items[i]->str.p;
		if (pipe(po) < 0 || pipe(pe) < 0)
			abort();
		jobs[i].pid = fork();
		if (jobs[i].pid == 0) {
			close(po[0]);
			close(pe[0]);
			dup2(pe[1], 2);
			run_remote_child(ctx, block, jobs[i].host, po[1]);
		}
		close(po[1]);
		close(pe[1]);
		jobs[i].out_fd = po[0];
		jobs[i].err_fd = pe[0];
		open_fds += 2;
	}
	/* Every host at once: read whatever any of them sends until all are done. */
	while (open_fds) {
		struct pollfd *p = calloc(2 * n, sizeof(*p));

		if (!p)
			abort();
		for (i = 0; i < n; i++) {
			p[2 * i] = (struct pollfd){ .fd = jobs[i].out_fd, .events = POLLIN };
			p[2 * i + 1] = (struct pollfd){ .fd = jobs[i].err_fd, .events = POLLIN };
		}
		if (poll(p, 2 * n, -1) < 0 && errno != EINTR) {
			free(p);
			break;
		}
		for (i = 0; i < n; i++) {
			if (jobs[i].out_fd >= 0 && (p[2 * i].revents & (POLLIN | POLLHUP | POLLERR)) &&
			    !drain_into(jobs[i].out_fd, &jobs[i].out)) {
				close(jobs[i].out_fd);
				jobs[i].out_fd = -1;
				open_fds--;
			}
			if (jobs[i].err_fd >= 0 && (p[2 * i + 1].revents & (POLLIN | POLLHUP | POLLERR)) &&
			    !drain_into(jobs[i].err_fd, &jobs[i].err)) {
				close(jobs[i].err_fd);
				jobs[i].err_fd = -1;
				open_fds--;
			}
		}
		free(p);
	}
	for (i = 0; i < n; i++) {
		struct wire_value *result = NULL;
		int st;

		waitpid(jobs[i].pid, &st, 0);
		jobs[i].status = WIFEXITED(st) ? WEXITSTATUS(st) : 1;
		report_errors(ctx, &jobs[i]); /* counted there: a failing host does not stop the rest */
		if (jobs[i].out.len && wire_value_decode(jobs[i].out.data, jobs[i].out.len, &result) == 0 &&
		    result->type == WIRE_LIST) {
			size_t before = out->list.n, k;

			for (k = 0; k < result->list.n; k++)
				wire_list_append(out, wire_value_ref(result->list.items[k]));
			tag(out, before, jobs[i].host);
		}
		wire_value_unref(result);
		wire_buf_free(&jobs[i].out);
		wire_buf_free(&jobs[i].err);
	}
	free(jobs);
	(void)in;
	return 0;
}

/* ---- Enter-PSSession ---- */

int cli_enter_session(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	const char *host = cli_arg(b, "ComputerName")->str.p;
	struct wire_value *reply = NULL, *args = wire_object("Arguments");
	const char *prev_uri = ctx->uri;
	struct wire_conn *prev_conn = ctx->conn;
	char *uri = cli_host_uri(host);
	int rc;

	ctx->uri = uri;
	ctx->conn = NULL;
	ctx->conn_failed = false;
	rc = cli_call(ctx, WIRE_PROC_HELLO, args, &reply); /* connect now: a bad host fails here */
	wire_value_unref(args);
	wire_value_unref(reply);
	if (rc) {
		wire_conn_free(ctx->conn);
		ctx->conn = prev_conn;
		ctx->uri = prev_uri;
		ctx->conn_failed = false;
		free(uri);
		return -1;
	}
	wire_conn_free(prev_conn);
	if (!ctx->session_host)
		ctx->session_uri = (char *)prev_uri; /* what Exit-PSSession goes back to */
	else
		free((char *)prev_uri);
	free(ctx->session_host);
	ctx->session_host = strdup(host);
	return 0;
}

int cli_exit_session(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	if (!ctx->session_host)
		return 0;
	wire_conn_free(ctx->conn);
	ctx->conn = NULL;
	ctx->conn_failed = false;
	free((char *)ctx->uri);
	ctx->uri = ctx->session_uri;
	ctx->session_uri = NULL;
	free(ctx->session_host);
	ctx->session_host = NULL;
	return 0;
}
