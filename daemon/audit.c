/*
 * The audit log, STATE/audit.jsonl: one JSON line for every call that changes state or was
 * refused for trying to (who, from which socket, what, with which arguments, the result).
 * Lines are written with one write() on an O_APPEND file, so they never interleave.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/hvd.h"

static int audit_fd = -1;

int hvd_audit_open(const char *state_dir)
{
	char *path;

	if (asprintf(&path, "%s/audit.jsonl", state_dir) < 0)
		return -ENOMEM;
	audit_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	free(path);
	return audit_fd < 0 ? -errno : 0;
}

void hvd_audit_close(void)
{
	if (audit_fd >= 0)
		close(audit_fd);
	audit_fd = -1;
}

void hvd_audit_record(const struct hvd_peer *peer, uint32_t procedure, const struct wire_value *args,
		      int status, const struct wire_value *reply)
{
	const struct wire_proc_info *info = wire_proc_lookup(procedure);
	struct wire_value *rec = wire_object("AuditRecord");
	struct wire_buf line = { 0 };
	ssize_t n;

	wire_object_set(rec, "Time", wire_timestamp(hvd_now_ns()));
	wire_object_set(rec, "User", wire_string(peer->user));
	wire_object_set(rec, "Uid", wire_int(peer->uid));
	wire_object_set(rec, "Pid", wire_int(peer->pid));
	wire_object_set(rec, "Socket", wire_string(peer->socket_path));
	wire_object_set(rec, "Procedure", wire_string(info ? info->name : "unknown"));
	/* What the call was about: the VMs it named. */
	wire_object_set(rec, "Target", wire_object_get(args, "Id") ? wire_value_ref(wire_object_get(args, "Id"))
				       : wire_object_get(args, "Name") ? wire_value_ref(wire_object_get(args, "Name"))
				       : wire_object_get(args, "Path") ? wire_value_ref(wire_object_get(args, "Path"))
									: wire_null());
	/* What is typed at a guest's console (passwords, say) stays out of the log. */
	if (procedure == WIRE_PROC_VM_CONSOLE_INPUT)
		wire_object_set(rec, "Arguments", wire_stringf("(%zu bytes of console input)",
							       wire_object_get(args, "Bytes") ? wire_object_get(args, "Bytes")->str.len : 0));
	else
		wire_object_set(rec, "Arguments", args ? wire_value_ref((struct wire_value *)args) : wire_null());
	wire_object_set(rec, "Result", wire_string(wire_status_name((enum wire_status)status)));
	if (status && reply && wire_object_get(reply, "Message"))
		wire_object_set(rec, "Message", wire_value_ref(wire_object_get(reply, "Message")));
	if (status == 0 && reply && reply->type == WIRE_LIST) {
		size_t i, errors = 0;

		for (i = 0; i < reply->list.n; i++)
			errors += reply->list.items[i]->type == WIRE_OBJECT &&
				  strcmp(reply->list.items[i]->obj.type_name, "ErrorRecord") == 0;
		wire_object_set(rec, "Errors", wire_int((int64_t)errors));
	}
	wire_value_to_json(rec, &line, 0, -1);
	wire_buf_put(&line, "\n", 1);
	if (audit_fd >= 0) {
		n = write(audit_fd, line.data, line.len);
		if (n != (ssize_t)line.len)
			hvd_log(HVD_LOG_ERROR, "the audit log could not be written");
	}
	wire_buf_free(&line);
	wire_value_unref(rec);
}
