/*
 * Processor limits of a running partition, as cgroup v2 sees them (DESIGN.md, Partitions):
 * RelativeWeight becomes cpu.weight (the same 1-10000 scale), Maximum becomes cpu.max (a
 * share of the VM's processors), in STATE's own group <cgroup2>/hvkit/<Id> that holds the
 * worker.  Reserve has no cgroup v2 counterpart.  Where the cgroup v2 cpu controller cannot
 * be used, nothing is enforced and the reason is kept to be shown.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/hvd.h"

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, text, strlen(text)) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* The cgroup v2 mount point, from /proc/self/mountinfo. */
static bool cgroup2_root(char *buf, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[1024];
	bool found = false;

	while (f && !found && fgets(line, sizeof(line), f)) {
		char mnt[512], *sep = strstr(line, " - cgroup2 ");

		if (sep && sscanf(line, "%*s %*s %*s %*s %511s", mnt) == 1) {
			snprintf(buf, len, "%s", mnt);
			found = true;
		}
	}
	if (f)
		fclose(f);
	return found;
}

static bool has_cpu_controller(const char *root)
{
	char path[600], text[512] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/cgroup.controllers", root);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (!fgets(text, sizeof(text), f))
		text[0] = '\0';
	fclose(f);
	return strstr(text, "cpu ") || strstr(text, "cpu\n") || !strcmp(text, "cpu");
}

/* Applies the VM's limits to the worker pid; note says what happened (for Get-VMProcessor). */
bool hvd_cgroup_apply(const struct hvd_vm *vm, pid_t pid, char *note, size_t notelen)
{
	char root[512], dir[700], path[800], text[64];
	int rc;

	if (!cgroup2_root(root, sizeof(root))) {
		snprintf(note, notelen, "Not enforced: this host has no cgroup v2 hierarchy.");
		return false;
	}
	if (!has_cpu_controller(root)) {
		snprintf(note, notelen, "Not enforced: the cgroup v2 cpu controller is not enabled at %s.", root);
		return false;
	}
	snprintf(dir, sizeof(dir), "%s/hvkit", root);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		snprintf(note, notelen, "Not enforced: cannot create %s: %s.", dir, strerror(errno));
		return false;
	}
	snprintf(path, sizeof(path), "%s/cgroup.subtree_control", dir);
	write_file(path, "+cpu");
	snprintf(dir, sizeof(dir), "%s/hvkit/%s", root, vm->id);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		snprintf(note, notelen, "Not enforced: cannot create %s: %s.", dir, strerror(errno));
		return false;
	}
	snprintf(path, sizeof(path), "%s/cpu.weight", dir);
	snprintf(text, sizeof(text), "%u", vm->proc_weight);
	rc = write_file(path, text);
	snprintf(path, sizeof(path), "%s/cpu.max", dir);
	if (vm->proc_maximum >= 100)
		snprintf(text, sizeof(text), "max 100000");
	else
		snprintf(text, sizeof(text), "%llu 100000",
			 (unsigned long long)vm->proc_maximum * 1000ull * vm->proc_count > 1000
				 ? (unsigned long long)vm->proc_maximum * 1000ull * vm->proc_count
				 : 1000ull);
	if (rc == 0)
		rc = write_file(path, text);
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	snprintf(text, sizeof(text), "%d", (int)pid);
	if (rc == 0 && pid > 0)
		rc = write_file(path, text);
	if (rc) {
		snprintf(note, notelen, "Not enforced: cannot write the limits in %s: %s.", dir, strerror(-rc));
		return false;
	}
	snprintf(note, notelen, "Enforced by %s (Reserve is not: cgroup v2 has no reservation).", dir);
	return true;
}
