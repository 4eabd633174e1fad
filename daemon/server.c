/*
 * hvd's event loop: the main and the read-only socket, every client's frames in and out,
 * dispatch to procedures, subscriptions and keepalive.  One thread, non-blocking sockets,
 * a bounded output queue per client: a slow or dead client can only lose its own
 * connection, never hold up another.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon/hvd.h"
#include "wire-protocol/conn.h"

/* A client whose unread output passes this is dropped: it is not reading. */
#define OUT_LIMIT (64u << 20)
#define MAX_CLIENTS 1024

struct hvd_client {
	int fd;
	struct hvd_peer peer;
	struct wire_buf in, out;
	size_t out_off; /* bytes of out already sent: dropped only when they are many */
	int64_t last_heard_ms;
	bool ping_sent;
	bool closing;       /* flush what is queued, then close */
	bool subscribed;
	uint32_t sub_serial;
	uint32_t cur_serial; /* serial of the call being handled */
	uint64_t id;         /* never reused: deferred replies find their client by it */
	bool samples;        /* gets a VMSamples event every samples_every seconds */
	uint32_t samples_serial;
	unsigned samples_every, samples_wait;
	char console_vm[37]; /* attached to this VM's console ("" when not) */
	uint32_t console_serial;
};

/* A mutating call answered later (HVD_DEFERRED): its audit record waits for the outcome. */
struct pending_audit {
	struct pending_audit *next;
	uint64_t client;
	uint32_t serial, procedure;
	struct hvd_peer peer;
	struct wire_value *args;
};

struct hvd {
	const struct hvd_config *cfg;
	struct pending_audit *pending_audits;
	struct hvd_store *store;
	int lfd[2];
	struct hvd_client *clients[MAX_CLIENTS];
	size_t nclients;
	int64_t started_ns;
	uint64_t next_client_id;
	int64_t next_tick_ms;
};

static volatile sig_atomic_t stop_requested;

void hvd_server_stop(void)
{
	stop_requested = 1;
}

int64_t hvd_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct hvd_store *hvd_get_store(struct hvd *d)
{
	return d->store;
}

int64_t hvd_started_ns(const struct hvd *d)
{
	return d->started_ns;
}

const struct hvd_peer *hvd_client_peer(const struct hvd_client *c)
{
	return &c->peer;
}

uint32_t hvd_client_serial(const struct hvd_client *c)
{
	return c->cur_serial;
}

uint64_t hvd_client_id(const struct hvd_client *c)
{
	return c->id;
}

static void queue_frame(struct hvd_client *c, struct wire_frame *f);

void hvd_client_samples(struct hvd_client *c, uint32_t serial, unsigned every)
{
	c->samples = true;
	c->samples_serial = serial;
	c->samples_every = every ? every : 1;
	c->samples_wait = c->samples_every;
}

/* Each second, to each client whose interval is up: every VM's object, one event for all. */
static void send_samples(struct hvd *d)
{
	struct wire_value *ev = NULL;
	size_t i;

	for (i = 0; i < d->nclients; i++) {
		struct hvd_client *c = d->clients[i];
		struct wire_frame f = { .kind = WIRE_KIND_EVENT, .procedure = WIRE_PROC_SAMPLES_SUBSCRIBE };

		if (!c->samples || c->closing || --c->samples_wait > 0)
			continue;
		c->samples_wait = c->samples_every;
		if (!ev)
			ev = hvd_samples_event(d);
		f.serial = c->samples_serial;
		f.payload = ev;
		queue_frame(c, &f);
	}
	wire_value_unref(ev);
}

void hvd_client_console(struct hvd_client *c, const char *vm_id, uint32_t serial)
{
	snprintf(c->console_vm, sizeof(c->console_vm), "%s", vm_id ? vm_id : "");
	c->console_serial = serial;
}

int hvd_client_subscribe(struct hvd_client *c, uint32_t serial)
{
	c->subscribed = true;
	c->sub_serial = serial;
	return 0;
}

void hvd_client_unsubscribe(struct hvd_client *c)
{
	c->subscribed = false;
	c->samples = false;
}

/* Binds a listening socket, replacing a stale socket file but never a live daemon's. */
static int listen_on(const char *path, mode_t mode)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, probe, rc;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		hvd_log(HVD_LOG_ERROR, "socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(probe);
		hvd_log(HVD_LOG_ERROR, "another hvd is already listening on %s", path);
		return -EADDRINUSE;
	}
	if (probe >= 0)
		close(probe);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, mode) < 0 || listen(fd, 128) < 0) {
		rc = -errno;
		hvd_log(HVD_LOG_ERROR, "cannot listen on %s: %s", path, strerror(errno));
		close(fd);
		return rc;
	}
	return fd;
}

static void client_free(struct hvd_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	wire_buf_free(&c->in);
	wire_buf_free(&c->out);
	free(c);
}

static void accept_client(struct hvd *d, int lfd, bool read_only)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct hvd_client *c;
	struct passwd pw, *pwp = NULL;
	char pwbuf[1024];
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0)
		return;
	if (d->nclients == MAX_CLIENTS) {
		hvd_log(HVD_LOG_WARNING, "too many clients (%d); refusing one", MAX_CLIENTS);
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		abort();
	c->fd = fd;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		hvd_log(HVD_LOG_WARNING, "no peer credentials on a new connection; refusing it");
		client_free(c);
		return;
	}
	c->peer.uid = cred.uid;
	c->peer.gid = cred.gid;
	c->peer.pid = cred.pid;
	if (getpwuid_r(cred.uid, &pw, pwbuf, sizeof(pwbuf), &pwp) == 0 && pwp)
		snprintf(c->peer.user, sizeof(c->peer.user), "%s", pw.pw_name);
	else
		snprintf(c->peer.user, sizeof(c->peer.user), "uid%u", (unsigned)cred.uid);
	c->peer.read_only = read_only;
	c->id = ++d->next_client_id;
	c->peer.socket_path = read_only ? d->cfg->ro_socket_path : d->cfg->socket_path;
	c->last_heard_ms = mono_ms();
	d->clients[d->nclients++] = c;
	hvd_log(HVD_LOG_DEBUG, "client connected: %s (uid %u, pid %d) on %s", c->peer.user,
		(unsigned)cred.uid, (int)cred.pid, c->peer.socket_path);
}

static void queue_frame(struct hvd_client *c, struct wire_frame *f)
{
	if (c->closing && f->kind != WIRE_KIND_ERROR)
		return;
	if (wire_frame_encode(f, &c->out) == -E2BIG) {
		struct wire_frame e = { .kind = WIRE_KIND_ERROR, .serial = f->serial,
					.procedure = f->procedure, .status = WIRE_E_RESOURCE };
		int rc;

		e.payload = wire_error_record(WIRE_E_RESOURCE, NULL,
					      "the reply is larger than the frame limit of %u bytes; ask for less",
					      WIRE_FRAME_MAX);
		rc = wire_frame_encode(&e, &c->out);
		(void)rc;
		wire_value_unref(e.payload);
	}
	if (c->out.len > OUT_LIMIT) {
		hvd_log(HVD_LOG_WARNING, "client %s (pid %d) is not reading its replies; dropping it",
			c->peer.user, (int)c->peer.pid);
		c->out.len = 0;
		c->out_off = 0;
		c->closing = true;
		c->in.len = 0;
		shutdown(c->fd, SHUT_RDWR);
	}
}

static void send_error(struct hvd_client *c, uint32_t serial, uint32_t proc, enum wire_status st,
		       struct wire_value *rec)
{
	struct wire_frame f = { .kind = WIRE_KIND_ERROR, .serial = serial, .procedure = proc,
				.status = st, .payload = rec };

	queue_frame(c, &f);
	wire_value_unref(rec);
}

void hvd_reply_to(struct hvd *d, uint64_t client, uint32_t serial, uint32_t proc, int status,
		  struct wire_value *payload)
{
	size_t i;

	struct pending_audit **pp;

	/* The audit record of a deferred call says how it ended, whether or not its caller is
	 * still there to hear it. */
	for (pp = &d->pending_audits; *pp; pp = &(*pp)->next) {
		struct pending_audit *a = *pp;

		if (a->client == client && a->serial == serial && a->procedure == proc) {
			hvd_audit_record(&a->peer, proc, a->args, status, payload);
			*pp = a->next;
			wire_value_unref(a->args);
			free(a);
			break;
		}
	}
	for (i = 0; i < d->nclients; i++) {
		struct hvd_client *c = d->clients[i];
		struct wire_frame f = { .kind = status ? WIRE_KIND_ERROR : WIRE_KIND_REPLY, .serial = serial,
					.procedure = proc, .status = status, .payload = payload };

		if (c->id == client && !c->closing) {
			queue_frame(c, &f);
			break;
		}
	}
	wire_value_unref(payload);
}

void hvd_console_output(struct hvd *d, const char *vm_id, const void *buf, size_t len)
{
	struct wire_value *bytes = wire_bytes(buf, len);
	size_t i;

	for (i = 0; i < d->nclients; i++) {
		struct hvd_client *c = d->clients[i];
		struct wire_frame f = { .kind = WIRE_KIND_STREAM, .serial = c->console_serial,
					.procedure = WIRE_PROC_VM_CONSOLE_ATTACH, .payload = bytes };

		if (!c->closing && !strcmp(c->console_vm, vm_id))
			queue_frame(c, &f);
	}
	wire_value_unref(bytes);
}

void hvd_console_end(struct hvd *d, const char *vm_id)
{
	size_t i;

	for (i = 0; i < d->nclients; i++) {
		struct hvd_client *c = d->clients[i];
		struct wire_frame f = { .kind = WIRE_KIND_STREAM_END, .serial = c->console_serial,
					.procedure = WIRE_PROC_VM_CONSOLE_ATTACH };

		if (!c->closing && !strcmp(c->console_vm, vm_id)) {
			queue_frame(c, &f);
			c->console_vm[0] = '\0';
		}
	}
}

void hvd_broadcast_event(struct hvd *d, struct wire_value *event)
{
	size_t i;

	for (i = 0; i < d->nclients; i++) {
		struct hvd_client *c = d->clients[i];
		struct wire_frame f = { .kind = WIRE_KIND_EVENT, .payload = event };

		if (!c->subscribed || c->closing)
			continue;
		f.serial = c->sub_serial;
		f.procedure = WIRE_PROC_EVENTS_SUBSCRIBE;
		queue_frame(c, &f);
	}
	wire_value_unref(event);
}

static void handle_call(struct hvd *d, struct hvd_client *c, struct wire_frame *f)
{
	const struct wire_proc_info *info = wire_proc_lookup(f->procedure);
	struct wire_value *reply = NULL;
	hvd_proc_fn fn = hvd_proc_handler(f->procedure);
	int st;

	if (!info || !fn) {
		send_error(c, f->serial, f->procedure, WIRE_E_UNKNOWN_PROCEDURE,
			   wire_error_record(WIRE_E_UNKNOWN_PROCEDURE, NULL,
					     "this hvd does not know procedure %u", f->procedure));
		return;
	}
	if ((info->flags & WIRE_PROC_MUTATE) && c->peer.read_only) {
		reply = wire_error_record(WIRE_E_PERMISSION_DENIED, NULL,
					  "%s changes state and is refused on the read-only socket %s, which serves "
					  "only Get-*, Measure-* and Watch-*; use %s",
					  info->name, c->peer.socket_path, d->cfg->socket_path);
		hvd_audit_record(&c->peer, f->procedure, f->payload, WIRE_E_PERMISSION_DENIED, reply);
		send_error(c, f->serial, f->procedure, WIRE_E_PERMISSION_DENIED, reply);
		return;
	}
	if (f->payload && f->payload->type != WIRE_OBJECT) {
		send_error(c, f->serial, f->procedure, WIRE_E_PROTOCOL,
			   wire_error_record(WIRE_E_PROTOCOL, NULL, "%s takes an object of arguments, not a %s",
					     info->name, wire_type_name(f->payload->type)));
		return;
	}
	c->cur_serial = f->serial;
	hvd_log(HVD_LOG_DEBUG, "call %s (serial %u) from %s (pid %d)", info->name, f->serial, c->peer.user,
		(int)c->peer.pid);
	st = fn(d, c, f->payload, &reply);
	if (st == HVD_DEFERRED) {
		/* Answered later, through hvd_reply_to, which also writes the audit record. */
		struct pending_audit *a;

		if ((info->flags & WIRE_PROC_MUTATE) && (a = calloc(1, sizeof(*a)))) {
			a->client = c->id;
			a->serial = f->serial;
			a->procedure = f->procedure;
			a->peer = c->peer;
			a->args = f->payload ? wire_value_ref(f->payload) : NULL;
			a->next = d->pending_audits;
			d->pending_audits = a;
		} else if (info->flags & WIRE_PROC_MUTATE) {
			hvd_audit_record(&c->peer, f->procedure, f->payload, WIRE_OK, reply);
		}
		return;
	}
	if (info->flags & WIRE_PROC_MUTATE)
		hvd_audit_record(&c->peer, f->procedure, f->payload, st, reply);
	if (st == WIRE_OK) {
		struct wire_frame r = { .kind = WIRE_KIND_REPLY, .serial = f->serial,
					.procedure = f->procedure, .payload = reply };

		queue_frame(c, &r);
		wire_value_unref(reply);
	} else {
		send_error(c, f->serial, f->procedure, (enum wire_status)st, reply);
	}
}

/* Reports a broken stream to the client and closes it once the report is out: after a bad
 * length the byte stream has no frame boundaries left to trust. */
static void protocol_failure(struct hvd_client *c, const char *msg)
{
	hvd_log(HVD_LOG_WARNING, "client %s (pid %d): %s; closing it", c->peer.user, (int)c->peer.pid, msg);
	send_error(c, 0, 0, WIRE_E_PROTOCOL, wire_error_record(WIRE_E_PROTOCOL, NULL, "%s", msg));
	c->closing = true;
	c->in.len = 0;
}

static void process_input(struct hvd *d, struct hvd_client *c)
{
	while (!c->closing) {
		struct wire_frame f;
		size_t n;
		int rc = wire_frame_peek(c->in.data, c->in.len, &n);

		if (rc) {
			unsigned long len = (unsigned long)c->in.data[0] | (unsigned long)c->in.data[1] << 8 |
					    (unsigned long)c->in.data[2] << 16 | (unsigned long)c->in.data[3] << 24;

			char msg[128];

			if (rc == -E2BIG)
				snprintf(msg, sizeof(msg), "frame of %lu bytes is over the limit of %u bytes", len,
					 WIRE_FRAME_MAX);
			else
				snprintf(msg, sizeof(msg), "frame length %lu is shorter than a frame header", len);
			protocol_failure(c, msg);
			return;
		}
		if (n == 0)
			return;
		rc = wire_frame_decode(c->in.data, n, &f);
		wire_buf_consume(&c->in, n);
		if (rc == -EPROTO) {
			protocol_failure(c, "unknown protocol version or frame kind");
			return;
		}
		if (rc) {
			send_error(c, f.serial, f.procedure, WIRE_E_PROTOCOL,
				   wire_error_record(WIRE_E_PROTOCOL, NULL, "malformed payload in frame %u: %s",
						     f.serial, rc == -E2BIG ? "values nested more than 64 levels deep"
									    : "not a valid value encoding"));
			wire_frame_clear(&f);
			continue;
		}
		switch (f.kind) {
		case WIRE_KIND_CALL:
			handle_call(d, c, &f);
			break;
		case WIRE_KIND_PING: {
			struct wire_frame pong = { .kind = WIRE_KIND_PONG, .serial = f.serial };

			queue_frame(c, &pong);
			break;
		}
		case WIRE_KIND_PONG:
			break;
		default:
			send_error(c, f.serial, f.procedure, WIRE_E_PROTOCOL,
				   wire_error_record(WIRE_E_PROTOCOL, NULL,
						     "a client may send calls and pings only, not frames of kind %u",
						     f.kind));
		}
		wire_frame_clear(&f);
	}
}

/* Reads what the socket has; false when the client is gone. */
static bool client_read(struct hvd *d, struct hvd_client *c)
{
	for (;;) {
		ssize_t n;

		wire_buf_reserve(&c->in, 65536);
		n = read(c->fd, c->in.data + c->in.len, 65536);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0)
			return false;
		if (c->closing)
			continue; /* discard: the stream is being shut */
		c->in.len += (size_t)n;
		c->last_heard_ms = mono_ms();
		c->ping_sent = false;
		process_input(d, c);
		if (n < 65536)
			break;
	}
	return true;
}

static bool client_write(struct hvd_client *c)
{
	bool ok = true;

	while (c->out_off < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0) {
			ok = false;
			break;
		}
		c->out_off += (size_t)n;
	}
	/* Moving the unsent rest to the front after every send would copy a large reply over
	 * and over: drop what was sent once it is all sent or most of the buffer. */
	if (c->out_off == c->out.len || c->out_off > c->out.len / 2) {
		wire_buf_consume(&c->out, c->out_off);
		c->out_off = 0;
	}
	if (!ok)
		return false;
	return c->out.len || !c->closing;
}

static void keepalive(struct hvd_client *c, int64_t now)
{
	int64_t idle = now - c->last_heard_ms;

	if (idle >= 2 * WIRE_KEEPALIVE_MS) {
		hvd_log(HVD_LOG_INFO, "client %s (pid %d) stopped answering; closing it", c->peer.user,
			(int)c->peer.pid);
		c->closing = true;
		c->out.len = 0;
		c->out_off = 0;
	} else if (idle >= WIRE_KEEPALIVE_MS && !c->ping_sent) {
		struct wire_frame ping = { .kind = WIRE_KIND_PING };

		queue_frame(c, &ping);
		c->ping_sent = true;
	}
}

static void sweep(struct hvd *d)
{
	size_t i = 0;

	while (i < d->nclients) {
		struct hvd_client *c = d->clients[i];

		if (c->fd < 0 || (c->closing && c->out.len == 0)) {
			hvd_log(HVD_LOG_DEBUG, "client %s (pid %d) gone", c->peer.user, (int)c->peer.pid);
			client_free(c);
			d->clients[i] = d->clients[--d->nclients];
			continue;
		}
		i++;
	}
}

static void loop_once(struct hvd *d)
{
	struct pollfd pfd[MAX_CLIENTS + 2], wfd[256];
	struct hvd_client *polled[MAX_CLIENTS];
	size_t i, n = 2, np = d->nclients, nw = hvd_runtime_pollfds(wfd, 256);
	struct pollfd all[MAX_CLIENTS + 3 + 256];
	int64_t now;
	int rc;

	pfd[0] = (struct pollfd){ .fd = d->lfd[0], .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = d->lfd[1], .events = POLLIN };
	for (i = 0; i < np; i++) {
		struct hvd_client *c = d->clients[i];

		polled[i] = c;
		pfd[n++] = (struct pollfd){ .fd = c->fd, .events = (short)(POLLIN | (c->out.len ? POLLOUT : 0)) };
	}
	memcpy(all, pfd, n * sizeof(*pfd));
	memcpy(all + n, wfd, nw * sizeof(*wfd));
	all[n + nw] = (struct pollfd){ .fd = hvd_vhd_fd(), .events = POLLIN };
	rc = poll(all, n + nw + 1, 1000);
	if (rc < 0)
		return;
	memcpy(pfd, all, n * sizeof(*pfd));
	memcpy(wfd, all + n, nw * sizeof(*wfd));
	if (all[n + nw].revents & POLLIN)
		hvd_vhd_complete(d);
	now = mono_ms();
	hvd_runtime_handle(d, wfd, nw);
	if (now >= d->next_tick_ms) {
		hvd_runtime_tick(d);
		hvd_memory_tick(d);
		send_samples(d);
		d->next_tick_ms = now + 1000;
	}
	for (i = 0; i < np; i++) {
		struct hvd_client *c = polled[i];
		short re = pfd[i + 2].revents;

		if (re & (POLLIN | POLLHUP | POLLERR)) {
			if (!client_read(d, c)) {
				close(c->fd);
				c->fd = -1;
				continue;
			}
		}
		if (c->out.len || c->closing) {
			if (!client_write(c) && c->out.len == 0) {
				close(c->fd);
				c->fd = -1;
				continue;
			}
		}
		keepalive(c, now);
	}
	if (pfd[0].revents & POLLIN)
		accept_client(d, d->lfd[0], false);
	if (pfd[1].revents & POLLIN)
		accept_client(d, d->lfd[1], true);
	sweep(d);
}

int hvd_server_run(struct hvd_config *cfg, struct hvd_store *store)
{
	struct hvd d = { .cfg = cfg, .store = store, .lfd = { -1, -1 } };
	size_t i;
	int rc = 0;

	d.started_ns = hvd_now_ns();
	/* Who may change things: the socket's owner and group (0660); everyone else gets only
	 * the read-only socket. */
	d.lfd[0] = listen_on(cfg->socket_path, 0600);
	if (d.lfd[0] < 0)
		return d.lfd[0];
	if (cfg->group) {
		struct group *g = getgrnam(cfg->group);

		if (!g)
			hvd_log(cfg->group_given ? HVD_LOG_ERROR : HVD_LOG_INFO,
				"group %s does not exist: %s is for its owner only (create the group, or give --group)",
				cfg->group, cfg->socket_path);
		else if (chown(cfg->socket_path, (uid_t)-1, g->gr_gid) < 0 || chmod(cfg->socket_path, 0660) < 0)
			hvd_log(HVD_LOG_WARNING, "cannot give %s to group %s: %s", cfg->socket_path, cfg->group,
				strerror(errno));
		else
			hvd_log(HVD_LOG_INFO, "members of group %s may use %s", cfg->group, cfg->socket_path);
	}
	d.lfd[1] = listen_on(cfg->ro_socket_path, 0666);
	if (d.lfd[1] < 0) {
		rc = d.lfd[1];
		goto out;
	}
	hvd_runtime_init();
	if (hvd_vhd_init() < 0)
		hvd_log(HVD_LOG_ERROR, "cannot set up the VHD operations' pipe");
	hvd_ckpt_startup(store);
	hvd_pool_startup(store);
	hvd_runtime_rediscover(&d);
	hvd_log(HVD_LOG_INFO, "listening on %s and %s (read-only), %zu VMs defined, %zu running", cfg->socket_path,
		cfg->ro_socket_path, store->n, hvd_runtime_count());
	if (cfg->ready_fd >= 0) {
		char ok = 0;
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (write(cfg->ready_fd, &ok, 1) != 1)
			hvd_log(HVD_LOG_WARNING, "could not tell the starting process that hvd is ready");
		close(cfg->ready_fd);
		cfg->ready_fd = -1;
		if (null >= 0) {
			dup2(null, 2);
			close(null);
		}
	}
	while (!stop_requested)
		loop_once(&d);
	hvd_log(HVD_LOG_INFO, "stopping");
	hvd_pool_shutdown();
out:
	for (i = 0; i < d.nclients; i++)
		client_free(d.clients[i]);
	while (d.pending_audits) { /* calls still running at shutdown: say so */
		struct pending_audit *a = d.pending_audits;

		d.pending_audits = a->next;
		hvd_audit_record(&a->peer, a->procedure, a->args, WIRE_E_INTERNAL, NULL);
		wire_value_unref(a->args);
		free(a);
	}
	for (i = 0; i < 2; i++) {
		if (d.lfd[i] >= 0) {
			close(d.lfd[i]);
			unlink(i ? cfg->ro_socket_path : cfg->socket_path);
		}
	}
	return rc;
}
