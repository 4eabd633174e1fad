/* hvtop's link to hvd: see top-conn.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/ssh.h"
#include "cli/top-conn.h"
#include "wire-protocol/conn.h"
#include "wire-protocol/paths.h"

static const struct top_action_info actions[TOP_NACTIONS] = {
	[TOP_ACT_START] = { 's', "Start-VM", "", WIRE_PROC_VM_START, false, "Start", "" },
	[TOP_ACT_STOP] = { 't', "Stop-VM", "", WIRE_PROC_VM_STOP, true, "Shut down", " (the guest is asked)" },
	[TOP_ACT_TURNOFF] = { 'T', "Stop-VM", "-TurnOff", WIRE_PROC_VM_STOP, true, "Turn off", " at once" },
	[TOP_ACT_PAUSE] = { 'p', "Suspend-VM", "", WIRE_PROC_VM_SUSPEND, false, "Pause", "" },
	[TOP_ACT_RESUME] = { 'u', "Resume-VM", "", WIRE_PROC_VM_RESUME, false, "Resume", "" },
	[TOP_ACT_CHECKPOINT] = { 'C', "Checkpoint-VM", "", WIRE_PROC_VM_CHECKPOINT, false, "Checkpoint", "" },
};

const struct top_action_info *top_action_info(enum top_action a)
{
	return &actions[a];
}

int top_conn_open(struct top_conn *t, const char *uri, char *err, size_t errlen)
{
	char ro[4096];
	const char *p;
	int rc;

	memset(t, 0, sizeof(*t));
	t->action_pipe[0] = t->action_pipe[1] = -1;
	if (!uri || !*uri)
		uri = getenv("HVKIT_HOST");
	if (uri && !strncmp(uri, "ssh://", 6)) {
		/* hvctl's SSH transport; it says what went wrong on stderr itself. */
		snprintf(t->uri, sizeof(t->uri), "%s", uri);
		t->path[0] = '\0';
		if (cli_ssh_connect(uri, NULL, false, &t->wc)) {
			snprintf(err, errlen, "cannot reach hvd at %s over SSH", uri);
			return -ECONNREFUSED;
		}
		return 0;
	}
	if (!uri || !*uri) {
		if (wire_path_socket(t->path, sizeof(t->path))) {
			snprintf(err, errlen, "the default socket path is too long");
			return -ENAMETOOLONG;
		}
		snprintf(t->uri, sizeof(t->uri), "unix://%s", t->path);
	} else {
		p = !strncmp(uri, "unix://", 7) ? uri + 7 : uri;
		if (p[0] != '/' || strlen(p) >= sizeof(t->path)) {
			snprintf(err, errlen, "'%s' is not a host URI: use unix:///path/to/hvd.sock", uri);
			return -EINVAL;
		}
		strcpy(t->path, p);
		snprintf(t->uri, sizeof(t->uri), "unix://%s", t->path);
	}
	rc = wire_conn_open_unix(t->path, &t->wc);
	if (rc == -EACCES && wire_path_ro_socket(t->path, ro, sizeof(ro)) == 0 &&
	    wire_conn_open_unix(ro, &t->wc) == 0) {
		t->read_only = true; /* watching needs only READ procedures; actions will be refused */
		return 0;
	}
	if (rc) {
		snprintf(err, errlen, "cannot connect to hvd at %s: %s%s", t->path, strerror(-rc),
			 rc == -ENOENT || rc == -ECONNREFUSED ? " (is hvd running? start it with: hvd)" : "");
		return rc;
	}
	return 0;
}

void top_conn_close(struct top_conn *t)
{
	wire_conn_free(t->wc);
	t->wc = NULL;
	if (t->action_pipe[0] >= 0)
		close(t->action_pipe[0]);
	if (t->action_pipe[1] >= 0)
		close(t->action_pipe[1]);
	t->action_pipe[0] = t->action_pipe[1] = -1;
}

int top_conn_fd(const struct top_conn *t)
{
	return wire_conn_fd(t->wc);
}

static const char *message_of(const struct wire_value *v)
{
	const char *s = NULL;

	if (v && v->type == WIRE_OBJECT && !wire_object_get_string(v, "Message", &s))
		return s;
	return "hvd refused the call";
}

int top_conn_subscribe(struct top_conn *t, struct top_model *m)
{
	struct wire_value *reply = NULL;
	int32_t status;
	int rc;

	rc = wire_conn_send(t->wc, WIRE_PROC_EVENTS_SUBSCRIBE, NULL, &t->events_serial);
	if (rc == 0)
		rc = wire_conn_wait(t->wc, t->events_serial, &status, &reply);
	if (rc == 0 && status != WIRE_OK)
		rc = -EPROTO;
	wire_value_unref(reply);
	reply = NULL;
	if (rc)
		return rc;
	rc = wire_conn_send(t->wc, WIRE_PROC_SAMPLES_SUBSCRIBE, NULL, &t->samples_serial);
	if (rc == 0)
		rc = wire_conn_wait(t->wc, t->samples_serial, &status, &reply);
	if (rc == 0 && (status != WIRE_OK || reply->type != WIRE_LIST || reply->list.n != 1))
		rc = -EPROTO;
	if (rc == 0)
		rc = top_model_samples(m, reply->list.items[0]);
	wire_value_unref(reply);
	return rc;
}

int top_conn_pump(struct top_conn *t, struct top_model *m, int timeout_ms, unsigned *changed)
{
	struct wire_frame f;
	int rc;

	*changed = 0;
	while ((rc = wire_conn_next_event(t->wc, timeout_ms, &f)) == 0) {
		timeout_ms = 0;
		if (f.kind == WIRE_KIND_EVENT && f.procedure == WIRE_PROC_SAMPLES_SUBSCRIBE && f.payload) {
			if (top_model_samples(m, f.payload) == 0)
				*changed |= 1;
		} else if (f.kind == WIRE_KIND_EVENT && f.payload && f.payload->type == WIRE_OBJECT &&
			   !strcmp(f.payload->obj.type_name, "VMEvent")) {
			top_model_vm_event(m, f.payload);
			*changed |= 2;
		}
		wire_frame_clear(&f);
	}
	return rc == -EAGAIN ? 0 : rc;
}

/* PowerShell's quoting of a name, where the name needs it. */
static void ps_quote(char *buf, size_t len, const char *s)
{
	size_t n = 0;
	const char *p;
	bool plain = *s && *s != '-';

	for (p = s; *p && plain; p++)
		plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
			*p == '-' || *p == '_' || *p == '.';
	if (plain) {
		snprintf(buf, len, "%s", s);
		return;
	}
	if (len < 8) {
		buf[0] = '\0';
		return;
	}
	buf[n++] = '"';
	for (p = s; *p && n + 4 < len; p++) {
		if (*p == '"' || *p == '`' || *p == '$')
			buf[n++] = '`';
		buf[n++] = *p;
	}
	buf[n++] = '"';
	buf[n] = '\0';
}

void top_hvctl_script(char *buf, size_t len, const char *cmdlet, const char *vm_name, const char *option)
{
	char name[512];

	ps_quote(name, sizeof(name), vm_name);
	snprintf(buf, len, "%s %s%s%s", cmdlet, name, *option ? " " : "", option);
}

void top_hvctl_command(char *buf, size_t len, const char *cmdlet, const char *vm_name, const char *option)
{
	char script[600];
	size_t n;
	const char *p;

	top_hvctl_script(script, sizeof(script), cmdlet, vm_name, option);
	n = (size_t)snprintf(buf, len, "hvctl -c '");
	for (p = script; *p && n + 6 < len; p++) {
		if (*p == '\'') {
			memcpy(buf + n, "'\\''", 4);
			n += 4;
		} else {
			buf[n++] = *p;
		}
	}
	if (n + 2 <= len) {
		buf[n++] = '\'';
		buf[n] = '\0';
	}
}

void top_action_command(char *buf, size_t len, enum top_action a, const char *vm_name)
{
	top_hvctl_command(buf, len, actions[a].cmdlet, vm_name, actions[a].option);
}

void top_result_free(struct top_result *r)
{
	if (!r)
		return;
	free(r->vm_id);
	free(r->vm_name);
	free(r->message);
	free(r);
}

struct job {
	struct top_result *r;
	char path[4096]; /* "" over SSH: then uri */
	char uri[4200];
	int fd; /* the pipe's write end (shared, not owned) */
};

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		abort();
	return p;
}

/* One action on its own connection: hvd replies when the worker has done it. */
static void *job_main(void *arg)
{
	struct job *j = arg;
	struct top_result *r = j->r;
	struct wire_value *args = wire_object("Arguments"), *reply = NULL;
	struct wire_conn *c = NULL;

	wire_object_add(args, "Id", wire_string(r->vm_id));
	if (r->action == TOP_ACT_TURNOFF)
		wire_object_add(args, "TurnOff", wire_bool(true));
	if (j->path[0])
		r->rc = wire_conn_open_unix(j->path, &c);
	else
		r->rc = cli_ssh_connect(j->uri, NULL, false, &c) ? -ECONNREFUSED : 0;
	if (r->rc == 0)
		r->rc = wire_conn_call(c, actions[r->action].procedure, args, &r->status, &reply);
	if (r->rc == 0 && r->status != WIRE_OK)
		r->message = xstrdup(message_of(reply));
	wire_value_unref(reply);
	wire_value_unref(args);
	wire_conn_free(c);
	if (write(j->fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
		top_result_free(r);
	free(j);
	return NULL;
}

int top_action_run(struct top_conn *t, enum top_action a, const char *vm_id, const char *vm_name)
{
	pthread_attr_t attr;
	pthread_t th;
	struct job *j;
	int rc;

	if (t->action_pipe[0] < 0) {
		if (pipe2(t->action_pipe, O_CLOEXEC) < 0)
			return -errno;
		fcntl(t->action_pipe[0], F_SETFL, O_NONBLOCK);
	}
	j = calloc(1, sizeof(*j));
	if (!j)
		abort();
	j->r = calloc(1, sizeof(*j->r));
	if (!j->r)
		abort();
	j->r->action = a;
	j->r->vm_id = xstrdup(vm_id);
	j->r->vm_name = xstrdup(vm_name);
	snprintf(j->path, sizeof(j->path), "%s", t->path);
	snprintf(j->uri, sizeof(j->uri), "%s", t->uri);
	j->fd = t->action_pipe[1];
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = -pthread_create(&th, &attr, job_main, j);
	pthread_attr_destroy(&attr);
	if (rc) {
		top_result_free(j->r);
		free(j);
	}
	return rc;
}

int top_conn_result_fd(const struct top_conn *t)
{
	return t->action_pipe[0];
}

struct top_result *top_action_take(struct top_conn *t)
{
	struct top_result *r;

	if (t->action_pipe[0] < 0 || read(t->action_pipe[0], &r, sizeof(r)) != (ssize_t)sizeof(r))
		return NULL;
	return r;
}
