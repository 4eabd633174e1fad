/*
 * hvtop's link to hvd: the URI, the two subscriptions (samples and events) on one
 * connection, and actions on VMs.  An action can take seconds (VM.Start waits for the
 * partition to run, VM.Stop for the guest to power off), so each runs on a thread of its own
 * with a connection of its own, and its outcome comes back through a pipe the main loop
 * polls: the screen never waits for one.
 */
#ifndef HVKIT_TOP_CONN_H
#define HVKIT_TOP_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli/top-model.h"

struct wire_conn;

struct top_conn {
	struct wire_conn *wc;
	char uri[4200];  /* as given (or the default), for messages and for hvctl -H */
	char path[4096]; /* the socket */
	uint32_t events_serial, samples_serial;
	int action_pipe[2]; /* threads write a struct top_result pointer; -1 until used */
	bool read_only;     /* the main socket refused us: watching through hvd-ro.sock */
};

enum top_action {
	TOP_ACT_START,
	TOP_ACT_STOP,
	TOP_ACT_TURNOFF,
	TOP_ACT_PAUSE,
	TOP_ACT_RESUME,
	TOP_ACT_CHECKPOINT,
	TOP_NACTIONS
};

struct top_action_info {
	int key;            /* the key that asks for it */
	const char *cmdlet; /* the hvctl command it is */
	const char *option; /* its option on that command, or "" */
	uint32_t procedure;
	bool confirm;       /* destructive: asks y/n first */
	const char *verb, *after; /* "Turn off" VM " at once": for the y/n question */
};
const struct top_action_info *top_action_info(enum top_action a);

/* The outcome of one action, owned by whoever took it from the pipe. */
struct top_result {
	enum top_action action;
	char *vm_id, *vm_name;
	int rc;          /* 0, or -errno when hvd could not be reached */
	int32_t status;  /* the reply's status (WIRE_OK on success) */
	char *message;   /* the error record's Message when status != WIRE_OK */
};
void top_result_free(struct top_result *r);

/* Resolves uri (NULL: $HVKIT_HOST, else hvd's default socket) and connects; when the main
 * socket refuses us (EACCES), the read-only one beside it will do for watching.  On failure
 * returns -errno and writes a message for the user into err: -EINVAL for a URI that is not
 * one, -ENOTSUP for ssh:// (not in this build), or the connect error. */
int top_conn_open(struct top_conn *t, const char *uri, char *err, size_t errlen);
void top_conn_close(struct top_conn *t);
/* Subscribes to events and samples, and puts the first sample into m. */
int top_conn_subscribe(struct top_conn *t, struct top_model *m);
/* Takes in whatever has arrived, waiting up to timeout_ms for the first frame (0: none).
 * *changed gets bit 1 for a sample, bit 2 for an event.  0, or a transport error. */
int top_conn_pump(struct top_conn *t, struct top_model *m, int timeout_ms, unsigned *changed);
int top_conn_fd(const struct top_conn *t);

/* Starts an action on the VM; its result arrives on top_conn_result_fd().  0 or -errno. */
int top_action_run(struct top_conn *t, enum top_action a, const char *vm_id, const char *vm_name);
int top_conn_result_fd(const struct top_conn *t);
/* The next finished action, or NULL when none is waiting. */
struct top_result *top_action_take(struct top_conn *t);

/* The hvctl command an action is, e.g. `hvctl -c 'Stop-VM web1 -TurnOff'`, quoted for a
 * POSIX shell (names with odd characters are quoted for the hvctl language too). */
void top_action_command(char *buf, size_t len, enum top_action a, const char *vm_name);
/* The same for any cmdlet with the VM name as its one argument (Connect-VMConsole). */
void top_hvctl_command(char *buf, size_t len, const char *cmdlet, const char *vm_name, const char *option);
/* Just the script for hvctl -c: "Stop-VM web1 -TurnOff". */
void top_hvctl_script(char *buf, size_t len, const char *cmdlet, const char *vm_name, const char *option);

#endif
