/*
 * Running partitions: hvd's side of each hv-worker.  A worker is spawned with a socketpair
 * (or found again through STATE/vms/<Id>/worker.sock after hvd restarts), reports its
 * state, console output and samples as events, and ends with a Stopped event and its exit.
 * A worker that dies without one is noticed at once (its socket closes) and its VM marked
 * Off with a Status that says so; no other partition and no client is affected.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon/hvd.h"

#define MAX_WORKERS 256
#define STOP_TIMEOUT_NS (30ll * 1000000000) /* a guest asked to shut down gets this long */

/* A client waiting for an answer that depends on the worker. */
struct waiter {
	uint64_t client;
	uint32_t serial, proc;
	hvd_worker_done_fn done; /* instead of a client: hvd's own call (checkpoint.c) */
	void *ctx;
};

struct hvd_worker {
	char id[37];
	pid_t pid;
	bool ours; /* our child: waitpid tells how it ended */
	int fd;
	struct wire_buf in, out;
	char state[16];
	int64_t start_ns;
	uint64_t cpu_ns, mem;
	int64_t cpu_at;
	double cpu_usage;
	unsigned vcpus;
	uint32_t next_serial;
	struct waiter start, stop;     /* Start-VM / Stop-VM / Restart-VM waiting */
	int64_t stop_deadline;         /* ask-the-guest stop: when to give up (0: none) */
	bool stop_force, restart;
	struct waiter calls[8];        /* Suspend/Resume/console input forwarded, by worker serial */
	uint32_t call_serials[8];
	bool stopped;                  /* sent Stopped: its exit is expected */
	bool from_saved;               /* restored from the VM's saved state, removed once started */
	struct waiter off;             /* hvd's own wait for the worker to go (checkpoint.c) */
	bool limits_enforced;
	char limits[300];              /* what applying the processor limits said */
	struct wire_value *sample;     /* the worker's last Sample status (per-vCPU, VMBus), or NULL */
};

static struct hvd_worker *workers[MAX_WORKERS];
static size_t nworkers;
static pid_t unreaped[MAX_WORKERS]; /* our workers already handled but not yet waited for */
static size_t nunreaped;
static char worker_path[4096], guest_path[4096];

static int64_t now_ns(int clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static bool executable(const char *p)
{
	return access(p, X_OK) == 0;
}

/* hv-worker and hvguest: from the environment, beside hvd (a build tree), or installed. */
void hvd_runtime_init(void)
{
	char exe[4096], *dir;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	const char *env;

	exe[n > 0 ? n : 0] = '\0';
	dir = dirname(exe);
	if ((env = getenv("HVKIT_WORKER")))
		snprintf(worker_path, sizeof(worker_path), "%s", env);
	else if (snprintf(worker_path, sizeof(worker_path), "%s/hv-worker", dir) > 0 && executable(worker_path))
		;
	else
		snprintf(worker_path, sizeof(worker_path), "%s/hv-worker", HVKIT_LIBEXECDIR);
	if ((env = getenv("HVKIT_GUEST")))
		snprintf(guest_path, sizeof(guest_path), "%s", env);
	else if (snprintf(guest_path, sizeof(guest_path), "%s/../hvcore/guest/hvguest", dir) > 0 &&
		 access(guest_path, R_OK) == 0)
		;
	else
		snprintf(guest_path, sizeof(guest_path), "%s/hvguest", HVKIT_PKGDATADIR);
	hvd_log(HVD_LOG_DEBUG, "workers: %s; built-in guest: %s", worker_path, guest_path);
}

const char *hvd_guest_path(void)
{
	return guest_path;
}

static void send_call(struct hvd_worker *w, uint32_t proc, struct wire_value *args, uint32_t *serial)
{
	struct wire_frame f = { .kind = WIRE_KIND_CALL, .procedure = proc, .payload = args };
	int rc;

	f.serial = ++w->next_serial;
	rc = wire_frame_encode(&f, &w->out);
	(void)rc;
	wire_value_unref(args);
	if (serial)
		*serial = f.serial;
}

static void answer(struct hvd *d, struct waiter *wt, int status, struct wire_value *payload)
{
	if (!wt->client) {
		wire_value_unref(payload);
		return;
	}
	hvd_reply_to(d, wt->client, wt->serial, wt->proc, status, payload);
	wt->client = 0;
}

static void vm_event(struct hvd *d, struct hvd_vm *vm, const char *state)
{
	struct wire_value *e = wire_object("VMEvent");

	wire_object_add(e, "EventType", wire_string("StateChanged"));
	wire_object_add(e, "VMName", wire_string(vm->name));
	wire_object_add(e, "VMId", wire_string(vm->id));
	wire_object_add(e, "State", wire_string(state));
	wire_object_add(e, "Time", wire_timestamp(hvd_now_ns()));
	hvd_broadcast_event(d, e);
}

static void set_status(struct hvd_vm *vm, const char *text)
{
	char *copy = text ? strdup(text) : NULL; /* text may be vm->status itself */

	free(vm->status);
	vm->status = copy;
}

static void forget(struct hvd_worker *w)
{
	size_t i;

	for (i = 0; i < nworkers; i++) {
		if (workers[i] == w) {
			workers[i] = workers[--nworkers];
			break;
		}
	}
	if (w->ours && w->pid > 0 && nunreaped < MAX_WORKERS)
		unreaped[nunreaped++] = w->pid;
	if (w->fd >= 0)
		close(w->fd);
	wire_buf_free(&w->in);
	wire_buf_free(&w->out);
	wire_value_unref(w->sample);
	free(w);
}

/* How our child ended, waiting a little for it to be reapable. */
static void exit_reason(struct hvd_worker *w, char *buf, size_t len)
{
	int st, i;

	buf[0] = '\0';
	if (!w->ours || w->pid <= 0)
		return;
	for (i = 0; i < 100; i++) {
		pid_t r = waitpid(w->pid, &st, WNOHANG);

		if (r == w->pid) {
			w->pid = -1; /* reaped */
			if (WIFSIGNALED(st))
				snprintf(buf, len, ": killed by signal %d", WTERMSIG(st));
			else if (WIFEXITED(st) && WEXITSTATUS(st))
				snprintf(buf, len, ": exit status %d", WEXITSTATUS(st));
			return;
		}
		if (r < 0)
			return;
		{
			struct timespec ts = { 0, 2000000 };

			nanosleep(&ts, NULL);
		}
	}
}

static int spawn(struct hvd *d, struct hvd_vm *vm, const char *restore, bool paused, struct hvd_worker **out);

/* The worker is gone: its VM is off now.  why is NULL for a stop that went as asked. */
static void worker_gone_(struct hvd *d, struct hvd_worker *w, const char *why);

/* Calls hvd's own waiters of a worker that is gone: the calls failed, the wait for it ended. */
static void worker_gone(struct hvd *d, struct hvd_worker *w, const char *why)
{
	struct waiter calls[8], off = w->off;
	char id[37];
	size_t i;

	snprintf(id, sizeof(id), "%s", w->id);
	for (i = 0; i < 8; i++) {
		calls[i] = w->calls[i];
		if (w->calls[i].done)
			w->calls[i] = (struct waiter){ 0 };
	}
	worker_gone_(d, w, why);
	for (i = 0; i < 8; i++) {
		if (calls[i].done) {
			struct wire_value *e = wire_error_record(WIRE_E_RESOURCE, NULL, "its worker process ended: %s",
								 why ? why : "it stopped");

			calls[i].done(d, id, calls[i].ctx, WIRE_E_RESOURCE, e);
			wire_value_unref(e);
		}
	}
	if (off.done)
		off.done(d, id, off.ctx, WIRE_OK, NULL);
}

static void worker_gone_(struct hvd *d, struct hvd_worker *w, const char *why)
{
	struct hvd_vm *vm = hvd_store_find_id(hvd_get_store(d), w->id);
	bool restart = w->restart;
	struct waiter start = w->start, stop = w->stop;

	if (vm) {
		vm->worker = NULL;
		set_status(vm, why);
		why = vm->status; /* why may have been the old status, freed now */
		hvd_log(why ? HVD_LOG_WARNING : HVD_LOG_INFO, "VM %s (%s) is off%s%s", vm->name, vm->id, why ? ": " : "",
			why ? why : "");
		hvd_ckpt_vm_off(d, vm);
		hvd_pool_vm_off(d, vm);
	}
	w->start.client = w->stop.client = 0;
	if (start.client)
		answer(d, &start, WIRE_E_RESOURCE,
		       wire_error_record(WIRE_E_RESOURCE, vm ? vm->name : NULL, "%s could not start: %s",
					 vm ? vm->name : w->id, why ? why : "it stopped at once"));
	forget(w);
	if (vm && restart) {
		struct hvd_worker *nw;
		int rc = spawn(d, vm, NULL, false, &nw);

		if (rc == 0) {
			nw->start = stop; /* Restart-VM answers once the new run has started */
			return;
		}
		answer(d, &stop, WIRE_E_RESOURCE,
		       wire_error_record(WIRE_E_RESOURCE, vm->name, "\"%s\" was turned off but could not start again: %s.",
					 vm->name, strerror(-rc)));
	}
	if (vm) {
		vm_event(d, vm, "Off");
		hvd_console_end(d, vm->id);
	}
	if (stop.client)
		answer(d, &stop, vm ? WIRE_OK : WIRE_E_NOT_FOUND, vm ? hvd_vm_reply(vm) : wire_list());
}

/* Returns true when the event ended the worker (w is freed then). */
static bool handle_event(struct hvd *d, struct hvd_worker *w, const struct wire_value *e)
{
	struct hvd_vm *vm = hvd_store_find_id(hvd_get_store(d), w->id);
	const char *type = "", *s;
	int64_t pid;

	wire_object_get_string(e, "Type", &type);
	if (!strcmp(type, "Started")) {
		if (wire_object_get_int(e, "Pid", &pid) == 0)
			w->pid = (pid_t)pid;
		snprintf(w->state, sizeof(w->state), "Running");
		if (vm && w->from_saved)
			hvd_ckpt_saved_consumed(d, vm);
		if (vm) {
			set_status(vm, NULL);
			vm_event(d, vm, "Running");
			hvd_log(HVD_LOG_INFO, "VM %s started (worker pid %d)", vm->name, (int)w->pid);
		}
		if (w->start.client)
			answer(d, &w->start, WIRE_OK, vm ? hvd_vm_reply(vm) : wire_list());
	} else if (!strcmp(type, "Failed")) {
		char why[512] = "the worker failed";

		if (wire_object_get_string(e, "Message", &s) == 0)
			snprintf(why, sizeof(why), "%s", s);
		w->stopped = true;
		w->restart = false;
		worker_gone(d, w, why);
		return true;
	} else if (!strcmp(type, "State")) {
		if (wire_object_get_string(e, "State", &s) == 0) {
			snprintf(w->state, sizeof(w->state), "%s", s);
			if (vm)
				vm_event(d, vm, w->state);
		}
	} else if (!strcmp(type, "Console")) {
		const struct wire_value *b = wire_object_get(e, "Bytes");

		if (b && b->type == WIRE_BYTES)
			hvd_console_output(d, w->id, b->str.p, b->str.len);
	} else if (!strcmp(type, "Sample")) {
		const struct wire_value *st = wire_object_get(e, "Status");
		int64_t cpu, at = now_ns(CLOCK_MONOTONIC);

		if (wire_object_get_string(st, "State", &s) == 0 && strcmp(s, w->state) && strcmp(w->state, "Off"))
			snprintf(w->state, sizeof(w->state), "%s", s);
		if (!w->ours) {
			/* Found again after hvd restarted: learn what the worker knows. */
			const struct wire_value *t = wire_object_get(st, "StartTime");

			if (wire_object_get_int(st, "Pid", &pid) == 0)
				w->pid = (pid_t)pid;
			if (t && t->type == WIRE_TIMESTAMP)
				w->start_ns = t->i;
		}
		if (st && st->type == WIRE_OBJECT) {
			wire_value_unref(w->sample);
			w->sample = wire_value_ref((struct wire_value *)st);
		}
		if (wire_object_get_int(st, "CpuNs", &cpu) == 0) {
			if (w->cpu_at && at > w->cpu_at && w->vcpus)
				w->cpu_usage = 100.0 * (double)((uint64_t)cpu - w->cpu_ns) / (double)(at - w->cpu_at) / w->vcpus;
			w->cpu_ns = (uint64_t)cpu;
			w->cpu_at = at;
		}
	} else if (!strcmp(type, "Stopped")) {
		bool crashed = false, reset = false;
		const char *msg = NULL;

		wire_object_get_bool(e, "Crashed", &crashed);
		wire_object_get_bool(e, "Reset", &reset);
		wire_object_get_string(e, "Message", &msg);
		w->stopped = true;
		if (reset && !w->stop.client)
			w->restart = true; /* the guest rebooted: Hyper-V starts it again */
		/* The worker exits once it has said this; the socket closing finishes the job. */
		if (crashed && vm)
			set_status(vm, msg);
		snprintf(w->state, sizeof(w->state), "Off");
	}
	return false;
}

static void handle_reply(struct hvd *d, struct hvd_worker *w, struct wire_frame *f)
{
	size_t i;

	for (i = 0; i < 8; i++) {
		if (w->calls[i].done && w->call_serials[i] == f->serial) {
			struct waiter wt = w->calls[i];
			char id[37];

			snprintf(id, sizeof(id), "%s", w->id);
			w->calls[i] = (struct waiter){ 0 };
			if (f->kind == WIRE_KIND_REPLY)
				wt.done(d, id, wt.ctx, WIRE_OK, f->payload);
			else
				wt.done(d, id, wt.ctx, f->status ? f->status : WIRE_E_INTERNAL, f->payload);
			return;
		}
		if (w->calls[i].client && w->call_serials[i] == f->serial) {
			struct hvd_vm *vm = hvd_store_find_id(hvd_get_store(d), w->id);

			if (f->kind == WIRE_KIND_REPLY)
				answer(d, &w->calls[i], WIRE_OK, vm ? hvd_vm_reply(vm) : wire_list());
			else
				answer(d, &w->calls[i], f->status ? f->status : WIRE_E_INTERNAL,
				       f->payload ? wire_value_ref(f->payload) : wire_error_record(WIRE_E_INTERNAL, NULL, "worker error"));
			return;
		}
	}
}

/* 1: fine, 0: the connection ended, -1: an event ended the worker (w is freed). */
static int worker_read(struct hvd *d, struct hvd_worker *w)
{
	ssize_t n;

	wire_buf_reserve(&w->in, 65536);
	n = read(w->fd, w->in.data + w->in.len, 65536);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 1;
	if (n <= 0)
		return 0;
	w->in.len += (size_t)n;
	for (;;) {
		struct wire_frame f;
		size_t len;

		bool gone = false;

		if (wire_frame_peek(w->in.data, w->in.len, &len))
			return 0;
		if (len == 0)
			return 1;
		if (wire_frame_decode(w->in.data, len, &f)) {
			wire_frame_clear(&f);
			return 0;
		}
		wire_buf_consume(&w->in, len);
		if (f.kind == WIRE_KIND_EVENT && f.payload)
			gone = handle_event(d, w, f.payload);
		else if (f.kind == WIRE_KIND_REPLY || f.kind == WIRE_KIND_ERROR)
			handle_reply(d, w, &f);
		wire_frame_clear(&f);
		if (gone)
			return -1;
	}
}

size_t hvd_runtime_pollfds(struct pollfd *p, size_t max)
{
	size_t i;

	for (i = 0; i < nworkers && i < max; i++)
		p[i] = (struct pollfd){ .fd = workers[i]->fd, .events = (short)(POLLIN | (workers[i]->out.len ? POLLOUT : 0)) };
	return i;
}

void hvd_runtime_handle(struct hvd *d, const struct pollfd *p, size_t n)
{
	struct hvd_worker *polled[MAX_WORKERS];
	size_t i;

	for (i = 0; i < n; i++)
		polled[i] = workers[i];
	for (i = 0; i < n; i++) {
		struct hvd_worker *w = polled[i];
		size_t k;
		bool alive = false;

		for (k = 0; k < nworkers; k++)
			alive |= workers[k] == w;
		if (!alive || w->fd != p[i].fd)
			continue;
		if (p[i].revents & (POLLIN | POLLHUP | POLLERR)) {
			int r = worker_read(d, w);

			if (r < 0)
				continue;
			if (r == 0) {
				char why[600], how[64];
				int pid = (int)w->pid;

				exit_reason(w, how, sizeof(how));
				if (w->stopped) { /* it said why it stopped: how it exited adds nothing */
					struct hvd_vm *vm = hvd_store_find_id(hvd_get_store(d), w->id);

					worker_gone(d, w, vm && vm->status ? vm->status : NULL);
				} else {
					snprintf(why, sizeof(why), "The worker process (pid %d) ended unexpectedly%s.", pid, how);
					w->restart = false;
					worker_gone(d, w, why);
				}
				continue;
			}
		}
		if (w->out.len) {
			ssize_t sent = send(w->fd, w->out.data, w->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);

			if (sent > 0)
				wire_buf_consume(&w->out, (size_t)sent);
		}
	}
}

/* Once a second: reap children, and give up on guests that ignored the power button. */
void hvd_runtime_tick(struct hvd *d)
{
	int64_t now = now_ns(CLOCK_MONOTONIC);
	size_t i;

	for (i = 0; i < nunreaped;) {
		pid_t r = waitpid(unreaped[i], NULL, WNOHANG);

		if (r == unreaped[i] || r < 0)
			unreaped[i] = unreaped[--nunreaped];
		else
			i++;
	}
	for (i = 0; i < nworkers; i++) {
		struct hvd_worker *w = workers[i];

		if (!w->stop_deadline || now < w->stop_deadline)
			continue;
		w->stop_deadline = 0;
		if (w->stop_force) {
			struct wire_value *a = wire_object("Arguments");

			wire_object_add(a, "TurnOff", wire_bool(true));
			send_call(w, WIRE_PROC_WORKER_STOP, a, NULL);
		} else {
			struct hvd_vm *vm = hvd_store_find_id(hvd_get_store(d), w->id);

			answer(d, &w->stop, WIRE_E_INVALID_STATE,
			       wire_error_record(WIRE_E_INVALID_STATE, vm ? vm->name : NULL,
						 "The guest in \"%s\" did not shut down within %lld seconds; use Stop-VM -TurnOff, or -Force to turn it off when it does not.",
						 vm ? vm->name : w->id, STOP_TIMEOUT_NS / 1000000000));
		}
	}
}

static struct hvd_worker *worker_new(const char *id, int fd, bool ours)
{
	struct hvd_worker *w = calloc(1, sizeof(*w));

	if (!w)
		abort();
	snprintf(w->id, sizeof(w->id), "%s", id);
	w->fd = fd;
	w->ours = ours;
	w->start_ns = hvd_now_ns();
	snprintf(w->state, sizeof(w->state), "Starting");
	workers[nworkers++] = w;
	return w;
}

static int spawn(struct hvd *d, struct hvd_vm *vm, const char *restore, bool paused, struct hvd_worker **out)
{
	char cpus[16], mem[32], fdnum[16], icmask[16], memmax[32], *dir, **disks;
	const char **argv;
	struct hvd_worker *w;
	size_t k;
	int sv[2];
	pid_t pid;

	if (nworkers == MAX_WORKERS)
		return -EMFILE;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	if (asprintf(&dir, "%s/%s", hvd_get_store(d)->vms_dir, vm->id) < 0)
		abort();
	snprintf(cpus, sizeof(cpus), "%u", vm->proc_count);
	snprintf(mem, sizeof(mem), "%llu", (unsigned long long)vm->mem_startup);
	snprintf(icmask, sizeof(icmask), "%u", vm->ic_disabled);
	/* Dynamic memory maps MaximumBytes, but never more than the host has (Hyper-V's default
	 * Maximum is 1 TB). */
	{
		uint64_t max = vm->mem_maximum, phys = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);

		if (phys && max > phys)
			max = phys & ~((2ull << 20) - 1);
		if (max < vm->mem_startup)
			max = vm->mem_startup;
		snprintf(memmax, sizeof(memmax), "%llu", (unsigned long long)max);
	}
	vm->mem_target_sent = 0;
	/* Its hard disk drives, as --disk CONTROLLER:LOCATION:PATH (made before the fork). */
	disks = calloc(vm->ndrives + 1, sizeof(*disks));
	if (!disks)
		abort();
	for (k = 0; k < vm->ndrives; k++)
		if (asprintf(&disks[k], "%u:%u:%s", vm->drives[k].controller, vm->drives[k].location, vm->drives[k].path) < 0)
			abort();
	argv = calloc(24 + 2 * vm->ndrives, sizeof(*argv));
	if (!argv)
		abort();
	pid = fork();
	if (pid < 0) {
		int rc = -errno;

		close(sv[0]);
		close(sv[1]);
		free(dir);
		for (k = 0; k < vm->ndrives; k++)
			free(disks[k]);
		free(disks);
		free(argv);
		return rc;
	}
	if (pid == 0) {
		int n = 0, null = open("/dev/null", O_RDWR);

		/* The worker lives in its own session: hvd's signals and restarts pass it by. */
		setsid();
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
		}
		if (sv[1] == 3)
			fcntl(3, F_SETFD, 0); /* dup2 onto itself would keep close-on-exec */
		else
			dup2(sv[1], 3);
		snprintf(fdnum, sizeof(fdnum), "3");
		argv[n++] = worker_path;
		argv[n++] = "--dir";
		argv[n++] = dir;
		argv[n++] = "--id";
		argv[n++] = vm->id;
		argv[n++] = "--cpus";
		argv[n++] = cpus;
		argv[n++] = "--memory";
		argv[n++] = mem;
		argv[n++] = "--kernel";
		argv[n++] = vm->kernel ? vm->kernel : guest_path;
		if (restore) {
			argv[n++] = "--restore";
			argv[n++] = restore;
			if (paused)
				argv[n++] = "--paused";
		}
		if (vm->initrd) {
			argv[n++] = "--initrd";
			argv[n++] = vm->initrd;
		}
		if (vm->cmdline) {
			argv[n++] = "--cmdline";
			argv[n++] = vm->cmdline;
		}
		argv[n++] = "--control-fd";
		argv[n++] = fdnum;
		if (vm->ic_disabled) {
			argv[n++] = "--ic-disabled";
			argv[n++] = icmask;
		}
		for (k = 0; k < vm->ndrives; k++) {
			argv[n++] = "--disk";
			argv[n++] = disks[k];
		}
		if (vm->mem_dynamic) {
			argv[n++] = "--memory-maximum";
			argv[n++] = memmax;
		}
		argv[n] = NULL;
		execv(worker_path, (char *const *)argv);
		_exit(127);
	}
	close(sv[1]);
	free(dir);
	for (k = 0; k < vm->ndrives; k++)
		free(disks[k]);
	free(disks);
	free(argv);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	w = worker_new(vm->id, sv[0], true);
	w->pid = pid;
	w->vcpus = vm->proc_count;
	w->mem = vm->mem_startup;
	w->limits_enforced = hvd_cgroup_apply(vm, pid, w->limits, sizeof(w->limits));
	vm->worker = w;
	set_status(vm, NULL);
	*out = w;
	return 0;
}

/* ---- what procs.c asks ---- */

static uint64_t mem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	unsigned long long kb = 0;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return (uint64_t)kb << 10;
}

int hvd_runtime_start(struct hvd *d, struct hvd_vm *vm, uint64_t client, uint32_t serial, uint32_t proc,
		      struct wire_value **reply)
{
	uint64_t avail = mem_available();

	if (vm->worker) {
		*reply = wire_error_record(WIRE_E_INVALID_STATE, vm->name, "\"%s\" is already %s.", vm->name, vm->worker->state);
		return WIRE_E_INVALID_STATE;
	}
	if (avail && vm->mem_startup > avail) {
		*reply = wire_error_record(WIRE_E_RESOURCE, vm->name,
					   "\"%s\" needs %llu MB of memory to start and the host has %llu MB available.", vm->name,
					   (unsigned long long)(vm->mem_startup >> 20), (unsigned long long)(avail >> 20));
		return WIRE_E_RESOURCE;
	}
	if (access(vm->kernel ? vm->kernel : guest_path, R_OK) != 0 || (vm->initrd && access(vm->initrd, R_OK) != 0)) {
		const char *bad = access(vm->kernel ? vm->kernel : guest_path, R_OK) != 0 ? (vm->kernel ? vm->kernel : guest_path)
											: vm->initrd;

		*reply = wire_error_record(WIRE_E_NOT_FOUND, bad, "\"%s\" cannot start: cannot read %s: %s.", vm->name, bad,
					   strerror(errno));
		return WIRE_E_NOT_FOUND;
	}
	return hvd_runtime_start_from(d, vm, vm->saved ? hvd_ckpt_saved_path(d, vm) : NULL, false, client, serial, proc,
				      reply);
}

int hvd_runtime_start_from(struct hvd *d, struct hvd_vm *vm, const char *restore, bool paused, uint64_t client,
			   uint32_t serial, uint32_t proc, struct wire_value **reply)
{
	struct hvd_worker *w;
	int rc;

	if (vm->worker) {
		*reply = wire_error_record(WIRE_E_INVALID_STATE, vm->name, "\"%s\" is already %s.", vm->name, vm->worker->state);
		return WIRE_E_INVALID_STATE;
	}
	rc = spawn(d, vm, restore, paused, &w);
	if (rc) {
		*reply = wire_error_record(WIRE_E_RESOURCE, vm->name, "Cannot start a worker for \"%s\": %s.", vm->name,
					   strerror(-rc));
		return WIRE_E_RESOURCE;
	}
	w->from_saved = restore && vm->saved && !strcmp(restore, hvd_ckpt_saved_path(d, vm));
	w->start = (struct waiter){ client, serial, proc, NULL, NULL };
	vm_event(d, vm, "Starting");
	return HVD_DEFERRED;
}

int hvd_runtime_stop(struct hvd *d, struct hvd_vm *vm, bool turn_off, bool force, bool restart, uint64_t client,
		     uint32_t serial, uint32_t proc, struct wire_value **reply)
{
	struct hvd_worker *w = vm->worker;
	struct wire_value *a;

	if (!w) {
		if (restart) {
			*reply = wire_error_record(WIRE_E_INVALID_STATE, vm->name, "\"%s\" is Off: use Start-VM.", vm->name);
			return WIRE_E_INVALID_STATE;
		}
		*reply = hvd_vm_reply(vm); /* already off: nothing to do, as Hyper-V */
		return WIRE_OK;
	}
	if (w->stop.client) {
		*reply = wire_error_record(WIRE_E_INVALID_STATE, vm->name, "\"%s\" is already being stopped.", vm->name);
		return WIRE_E_INVALID_STATE;
	}
	a = wire_object("Arguments");
	wire_object_add(a, "TurnOff", wire_bool(turn_off || restart));
	send_call(w, WIRE_PROC_WORKER_STOP, a, NULL);
	w->stop = (struct waiter){ client, serial, proc, NULL, NULL };
	w->restart = restart;
	w->stop_force = force;
	if (!turn_off && !restart)
		w->stop_deadline = now_ns(CLOCK_MONOTONIC) + STOP_TIMEOUT_NS;
	return HVD_DEFERRED;
}

int hvd_runtime_call(struct hvd *d, struct hvd_vm *vm, uint32_t worker_proc, struct wire_value *args,
		     hvd_worker_done_fn done, void *ctx)
{
	struct hvd_worker *w = vm->worker;
	size_t i;

	(void)d;
	if (!w || strcmp(w->state, "Starting") == 0 || w->stopped) {
		wire_value_unref(args);
		return -ESRCH;
	}
	for (i = 0; i < 8 && (w->calls[i].client || w->calls[i].done); i++)
		;
	if (i == 8) {
		wire_value_unref(args);
		return -EBUSY;
	}
	send_call(w, worker_proc, args, &w->call_serials[i]);
	w->calls[i] = (struct waiter){ 0, 0, 0, done, ctx };
	return 0;
}

int hvd_runtime_kill(struct hvd *d, struct hvd_vm *vm)
{
	struct hvd_worker *w = vm->worker;

	if (!w || w->pid <= 0)
		return -ESRCH;
	if (kill(w->pid, SIGKILL) < 0)
		return -errno;
	hvd_log(HVD_LOG_INFO, "VM %s: worker %d killed", vm->name, (int)w->pid);
	worker_gone(d, w, NULL);
	return 0;
}

int hvd_runtime_when_off(struct hvd *d, struct hvd_vm *vm, hvd_worker_done_fn done, void *ctx)
{
	struct hvd_worker *w = vm->worker;
	struct wire_value *a;

	if (!w) {
		done(d, vm->id, ctx, WIRE_OK, NULL);
		return 0;
	}
	if (w->off.done)
		return -EBUSY;
	w->off = (struct waiter){ 0, 0, 0, done, ctx };
	w->restart = false;
	a = wire_object("Arguments");
	wire_object_add(a, "TurnOff", wire_bool(true));
	send_call(w, WIRE_PROC_WORKER_STOP, a, NULL);
	return 0;
}

int hvd_runtime_forward(struct hvd *d, struct hvd_vm *vm, uint32_t worker_proc, struct wire_value *args,
			uint64_t client, uint32_t serial, uint32_t proc, struct wire_value **reply)
{
	struct hvd_worker *w = vm->worker;
	size_t i;

	if (!w || strcmp(w->state, "Starting") == 0) {
		wire_value_unref(args);
		*reply = wire_error_record(WIRE_E_INVALID_STATE, vm->name, "\"%s\" is %s.", vm->name, w ? w->state : "Off");
		return WIRE_E_INVALID_STATE;
	}
	for (i = 0; i < 8 && (w->calls[i].client || w->calls[i].done); i++)
		;
	if (i == 8) {
		wire_value_unref(args);
		*reply = wire_error_record(WIRE_E_RESOURCE, vm->name, "Too many requests for \"%s\" at once.", vm->name);
		return WIRE_E_RESOURCE;
	}
	send_call(w, worker_proc, args, &w->call_serials[i]);
	w->calls[i] = (struct waiter){ client, serial, proc, NULL, NULL };
	return HVD_DEFERRED;
}

void hvd_runtime_notify(struct hvd_vm *vm, uint32_t worker_proc, struct wire_value *args)
{
	if (!vm->worker || vm->worker->stopped) {
		wire_value_unref(args);
		return;
	}
	send_call(vm->worker, worker_proc, args, NULL); /* its reply matches no waiter: dropped */
}

const struct wire_value *hvd_runtime_sample(const struct hvd_vm *vm)
{
	return vm->worker ? vm->worker->sample : NULL;
}

/* Live properties of a VM for its object. */
void hvd_runtime_describe(const struct hvd_vm *vm, struct hvd_vm_live *live)
{
	const struct hvd_worker *w = vm->worker;

	memset(live, 0, sizeof(*live));
	live->state = vm->load_error ? "OffCritical" : vm->saved ? "Saved" : "Off";
	if (!w)
		return;
	live->state = w->state;
	live->running = true;
	live->uptime_ns = hvd_now_ns() - w->start_ns;
	live->cpu_usage = (int)(w->cpu_usage + 0.5);
	live->memory = w->mem;
	live->pid = w->pid;
}

/* After a restart of hvd: workers still running announce themselves on their sockets. */
void hvd_runtime_rediscover(struct hvd *d)
{
	struct hvd_store *s = hvd_get_store(d);
	size_t i;

	for (i = 0; i < s->n; i++) {
		struct hvd_vm *vm = s->vms[i];
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		char last[4200];
		int fd;

		snprintf(last, sizeof(last), "%s/%s/last-stop", s->vms_dir, vm->id);
		if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s/worker.sock", s->vms_dir, vm->id) >=
		    sizeof(sa.sun_path))
			continue;
		if (access(sa.sun_path, F_OK) != 0) {
			/* Not running: say why it last stopped, if it crashed. */
			FILE *f = fopen(last, "r");
			char text[1024];
			struct stat st;

			if (f && fgets(text, sizeof(text), f) && !strncmp(text, "Crashed", 7))
				set_status(vm, text);
			if (f)
				fclose(f);
			hvd_pool_vm_found_off(d, vm, false,
					      stat(last, &st) == 0 ? &st.st_mtim : NULL);
			continue;
		}
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			hvd_log(HVD_LOG_WARNING, "VM %s: its worker is gone (stale %s removed)", vm->name, sa.sun_path);
			if (fd >= 0)
				close(fd);
			unlink(sa.sun_path);
			set_status(vm, "Lost: its worker process ended while hvd was not running.");
			hvd_pool_vm_found_off(d, vm, true, NULL);
			continue;
		}
		fcntl(fd, F_SETFL, O_NONBLOCK);
		{
			struct hvd_worker *w = worker_new(vm->id, fd, false);

			snprintf(w->state, sizeof(w->state), "Running");
			w->vcpus = vm->proc_count;
			w->mem = vm->mem_startup;
			vm->worker = w;
			send_call(w, WIRE_PROC_WORKER_SUBSCRIBE, NULL, NULL);
			hvd_log(HVD_LOG_INFO, "VM %s: found its running worker again", vm->name);
		}
	}
}

int hvd_runtime_console_input(struct hvd_vm *vm, const struct wire_value *bytes)
{
	struct wire_value *a;

	if (!vm->worker)
		return -ESRCH;
	a = wire_object("Arguments");
	wire_object_add(a, "Bytes", wire_value_ref((struct wire_value *)bytes));
	send_call(vm->worker, WIRE_PROC_WORKER_CONSOLE_INPUT, a, NULL);
	return 0;
}

const char *hvd_runtime_limits(const struct hvd_vm *vm, bool *enforced)
{
	if (!vm->worker)
		return NULL;
	*enforced = vm->worker->limits_enforced;
	return vm->worker->limits;
}

void hvd_runtime_limits_changed(struct hvd_vm *vm)
{
	struct hvd_worker *w = vm->worker;

	if (w)
		w->limits_enforced = hvd_cgroup_apply(vm, w->pid, w->limits, sizeof(w->limits));
}

size_t hvd_runtime_count(void)
{
	return nworkers;
}
