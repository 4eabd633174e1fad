/* A client's end of a connection: see conn.h. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "wire-protocol/conn.h"
#include "wire-protocol/wire-internal.h"

struct wire_conn {
	int rfd, wfd;
	uint32_t next_serial;
	struct wire_buf in;
	struct wire_frame *held; /* replies and events received while waiting for another */
	size_t nheld, capheld;
	int64_t last_heard_ms;
	bool ping_sent;
	int error; /* sticky transport error */
};

/* WIRE_KEEPALIVE_MS, or $HVKIT_KEEPALIVE_MS (tests make dead peers show sooner). */
static int64_t keepalive_ms(void)
{
	static int64_t ms;

	if (!ms) {
		const char *e = getenv("HVKIT_KEEPALIVE_MS");
		long v = e ? strtol(e, NULL, 10) : 0;

		ms = v >= 100 && v <= 3600000 ? v : WIRE_KEEPALIVE_MS;
	}
	return ms;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int wire_conn_from_fds(int rfd, int wfd, struct wire_conn **out)
{
	struct wire_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->rfd = rfd;
	c->wfd = wfd;
	c->next_serial = 1;
	c->last_heard_ms = now_ms();
	*out = c;
	return 0;
}

int wire_conn_open_unix(const char *path, struct wire_conn **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	rc = wire_conn_from_fds(fd, fd, out);
	if (rc)
		close(fd);
	return rc;
}

void wire_conn_free(struct wire_conn *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->nheld; i++)
		wire_frame_clear(&c->held[i]);
	free(c->held);
	wire_buf_free(&c->in);
	if (c->wfd >= 0 && c->wfd != c->rfd)
		close(c->wfd);
	if (c->rfd >= 0)
		close(c->rfd);
	free(c);
}

int wire_conn_fd(const struct wire_conn *c)
{
	return c->rfd;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EPIPE ? -ECONNRESET : -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int send_frame(struct wire_conn *c, const struct wire_frame *f)
{
	struct wire_buf b = { 0 };
	int rc;

	if (c->error)
		return c->error;
	rc = wire_frame_encode(f, &b);
	if (rc == 0)
		rc = write_all(c->wfd, b.data, b.len);
	wire_buf_free(&b);
	if (rc && rc != -E2BIG)
		c->error = rc;
	return rc;
}

int wire_conn_send(struct wire_conn *c, uint32_t procedure, const struct wire_value *args,
		   uint32_t *serial)
{
	struct wire_frame f = { .kind = WIRE_KIND_CALL, .procedure = procedure };
	int rc;

	f.serial = c->next_serial++;
	if (c->next_serial == 0)
		c->next_serial = 1;
	f.payload = (struct wire_value *)args;
	rc = send_frame(c, &f);
	if (rc == 0)
		*serial = f.serial;
	return rc;
}

/* Takes one whole frame out of the input buffer, answering pings on the way.  0 with
 * got=false when no whole frame is buffered. */
static int take_frame(struct wire_conn *c, struct wire_frame *f, bool *got)
{
	size_t n;
	int rc;

	*got = false;
	for (;;) {
		rc = wire_frame_peek(c->in.data, c->in.len, &n);
		if (rc || n == 0)
			return rc;
		rc = wire_frame_decode(c->in.data, n, f);
		wire_buf_consume(&c->in, n);
		if (rc) {
			wire_frame_clear(f);
			return rc;
		}
		if (f->kind == WIRE_KIND_PING) {
			struct wire_frame pong = { .kind = WIRE_KIND_PONG, .serial = f->serial };

			wire_frame_clear(f);
			rc = send_frame(c, &pong);
			if (rc)
				return rc;
			continue;
		}
		if (f->kind == WIRE_KIND_PONG) {
			wire_frame_clear(f);
			continue;
		}
		*got = true;
		return 0;
	}
}

/* Reads what is there (waiting up to timeout_ms) into the buffer, and keeps the
 * connection alive: 0, -EAGAIN on timeout, or a transport error. */
static int fill(struct wire_conn *c, int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;

	for (;;) {
		struct pollfd pfd = { .fd = c->rfd, .events = POLLIN };
		int64_t t = now_ms(), wait = keepalive_ms() - (t - c->last_heard_ms);
		ssize_t n;
		int rc;

		if (c->ping_sent)
			wait += keepalive_ms();
		if (wait <= 0) {
			if (c->ping_sent)
				return c->error = -ETIMEDOUT;
			struct wire_frame ping = { .kind = WIRE_KIND_PING };

			rc = send_frame(c, &ping);
			if (rc)
				return rc;
			c->ping_sent = true;
			continue;
		}
		if (deadline >= 0 && deadline - t < wait)
			wait = deadline - t;
		if (wait < 0)
			wait = 0;
		rc = poll(&pfd, 1, (int)wait);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return c->error = -errno;
		if (rc == 0) {
			if (deadline >= 0 && now_ms() >= deadline)
				return -EAGAIN;
			continue;
		}
		wire_buf_reserve(&c->in, 65536);
		n = read(c->rfd, c->in.data + c->in.len, 65536);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return c->error = -errno;
		if (n == 0)
			return c->error = -ECONNRESET;
		c->in.len += (size_t)n;
		c->last_heard_ms = now_ms();
		c->ping_sent = false;
		return 0;
	}
}

static void hold(struct wire_conn *c, struct wire_frame *f)
{
	if (c->nheld == c->capheld) {
		c->capheld = c->capheld ? c->capheld * 2 : 8;
		c->held = wire_xrealloc(c->held, c->capheld * sizeof(*c->held));
	}
	c->held[c->nheld++] = *f;
	memset(f, 0, sizeof(*f));
}

static bool unhold(struct wire_conn *c, bool (*match)(const struct wire_frame *, uint32_t),
		   uint32_t serial, struct wire_frame *out)
{
	size_t i;

	for (i = 0; i < c->nheld; i++) {
		if (match(&c->held[i], serial)) {
			*out = c->held[i];
			memmove(&c->held[i], &c->held[i + 1], (c->nheld - i - 1) * sizeof(*c->held));
			c->nheld--;
			return true;
		}
	}
	return false;
}

/* An error with serial 0 is about the connection itself (PROTOCOL.md, Errors): it answers
 * whatever call is waiting. */
static bool is_reply_to(const struct wire_frame *f, uint32_t serial)
{
	return (f->kind == WIRE_KIND_REPLY && f->serial == serial) ||
	       (f->kind == WIRE_KIND_ERROR && (f->serial == serial || f->serial == 0));
}

static bool is_event(const struct wire_frame *f, uint32_t serial)
{
	(void)serial;
	return f->kind == WIRE_KIND_EVENT || f->kind == WIRE_KIND_STREAM || f->kind == WIRE_KIND_STREAM_END;
}

static int next_matching(struct wire_conn *c, bool (*match)(const struct wire_frame *, uint32_t),
			 uint32_t serial, int timeout_ms, struct wire_frame *out)
{
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	bool got;
	int rc;

	if (unhold(c, match, serial, out))
		return 0;
	for (;;) {
		struct wire_frame f;

		rc = take_frame(c, &f, &got);
		if (rc)
			return c->error = rc;
		if (got) {
			if (match(&f, serial)) {
				*out = f;
				return 0;
			}
			hold(c, &f);
			continue;
		}
		if (c->error)
			return c->error;
		rc = fill(c, deadline < 0 ? -1 : (int)(deadline - now_ms() > 0 ? deadline - now_ms() : 0));
		if (rc)
			return rc;
	}
}

int wire_conn_wait(struct wire_conn *c, uint32_t serial, int32_t *status, struct wire_value **payload)
{
	struct wire_frame f;
	int rc = next_matching(c, is_reply_to, serial, -1, &f);

	if (rc)
		return rc;
	*status = f.kind == WIRE_KIND_ERROR && f.status == 0 ? WIRE_E_INTERNAL : f.status;
	*payload = f.payload;
	return 0;
}

int wire_conn_call(struct wire_conn *c, uint32_t procedure, const struct wire_value *args,
		   int32_t *status, struct wire_value **payload)
{
	uint32_t serial;
	int rc = wire_conn_send(c, procedure, args, &serial);

	if (rc)
		return rc;
	return wire_conn_wait(c, serial, status, payload);
}

int wire_conn_next_event(struct wire_conn *c, int timeout_ms, struct wire_frame *frame)
{
	return next_matching(c, is_event, 0, timeout_ms, frame);
}
