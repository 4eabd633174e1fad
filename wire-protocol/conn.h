/*
 * A client's end of a wire-protocol connection: calls (several may be in flight), replies
 * matched by serial, events queued for the caller, pings answered and sent.  The transport
 * is a pair of file descriptors, so the same code runs over a Unix socket, a pipe to
 * `hvctl --bridge`, or an SSH channel connected to a socketpair.
 */
#ifndef HVKIT_WIRE_CONN_H
#define HVKIT_WIRE_CONN_H

#include "wire-protocol/wire.h"

struct wire_conn;

/* Keepalive (PROTOCOL.md, Keepalive): a side that has heard nothing for this long sends a
 * ping; one that hears nothing for twice this long gives the connection up. */
#define WIRE_KEEPALIVE_MS 15000

int wire_conn_open_unix(const char *path, struct wire_conn **out) WIRE_MUST_CHECK;
/* Takes ownership of both descriptors (they may be the same). */
int wire_conn_from_fds(int rfd, int wfd, struct wire_conn **out) WIRE_MUST_CHECK;
void wire_conn_free(struct wire_conn *c);

/* Sends a call; args is borrowed (NULL for none).  *serial identifies the reply. */
int wire_conn_send(struct wire_conn *c, uint32_t procedure, const struct wire_value *args,
		   uint32_t *serial) WIRE_MUST_CHECK;
/* Waits for the reply or error to one serial; other replies and events that arrive meanwhile
 * are kept.  On 0, *status is the frame's status and *payload (owned by the caller) the reply
 * value or the ErrorRecord.  -ETIMEDOUT when the peer stopped answering, -ECONNRESET when the
 * connection closed, -EPROTO/-EBADMSG/-E2BIG on a bad frame from the peer. */
int wire_conn_wait(struct wire_conn *c, uint32_t serial, int32_t *status,
		   struct wire_value **payload) WIRE_MUST_CHECK;
/* send + wait. */
int wire_conn_call(struct wire_conn *c, uint32_t procedure, const struct wire_value *args,
		   int32_t *status, struct wire_value **payload) WIRE_MUST_CHECK;
/* The next event (or stream frame), waiting up to timeout_ms (-1: for ever).  0 with
 * *frame filled (caller clears it), -EAGAIN on timeout, other errors as wire_conn_wait. */
int wire_conn_next_event(struct wire_conn *c, int timeout_ms, struct wire_frame *frame) WIRE_MUST_CHECK;
/* The descriptor to poll for readability (events). */
int wire_conn_fd(const struct wire_conn *c);

#endif
