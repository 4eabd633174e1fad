/*
 * hvd, the management service: options, the state directory and its lock, daemonizing,
 * then the server loop (daemon/server.c).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/parser.h>

#include "daemon/hvd.h"
#include "wire-protocol/paths.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hvd [--socket PATH] [--ro-socket PATH] [--state-dir DIR] [--foreground]\n"
		"           [--log-level error|warning|info|debug] [--group GROUP] [--memory-budget BYTES]\n"
		"The hvkit management service: keeps VM definitions in DIR/vms/<Id>/vm.xml and serves\n"
		"hvctl and hvtop on a Unix socket, and Get-*/Measure-*/Watch-* on a read-only one.\n"
		"\n"
		"  --socket PATH      main socket (root: /run/hvkit/hvd.sock,\n"
		"                     others: $XDG_RUNTIME_DIR/hvkit/hvd.sock)\n"
		"  --ro-socket PATH   read-only socket (default: beside the main one, hvd-ro.sock)\n"
		"  --state-dir DIR    state directory (root: /var/lib/hvkit,\n"
		"                     others: $XDG_DATA_HOME/hvkit)\n"
		"  --foreground       stay in the foreground and log to stderr\n"
		"                     (otherwise hvd detaches once it listens and logs to DIR/hvd.log)\n"
		"  --log-level LEVEL  error, warning, info (default) or debug\n"
		"  --group GROUP      members of GROUP may use the main socket (default for root:\n"
		"                     hvkit, when it exists; otherwise only the owner may)\n"
		"  --memory-budget BYTES  memory the VMs with dynamic memory may hold together\n"
		"                     (suffix M or G; default: what the host has available)\n"
		"  --help, --version\n");
}

/*
 * Makes the folder a socket goes in.  The default folders (/run/hvkit, or one under
 * $XDG_RUNTIME_DIR or /tmp for other users) are hvd's own: one that someone else owns, or
 * that others may write to, could hand our socket to them, so it is refused.
 */
static int make_parent(const char *path, bool ours)
{
	char *copy = strdup(path), *dir;
	struct stat st;
	int rc;

	if (!copy)
		return -ENOMEM;
	dir = dirname(copy);
	rc = hvd_mkdir_p(dir, ours && geteuid() != 0 ? 0700 : 0755);
	if (rc == 0 && ours) {
		if (lstat(dir, &st) < 0)
			rc = -errno;
		else if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022)) {
			fprintf(stderr, "hvd: %s is not a folder owned by this user and closed to others; "
					"remove it or give --socket\n", dir);
			rc = -EPERM;
		}
	}
	if (rc && rc != -EPERM)
		fprintf(stderr, "hvd: cannot create the folder %s: %s\n", dir, strerror(-rc));
	free(copy);
	return rc;
}

static void record_pid(int fd)
{
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());

	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		fprintf(stderr, "hvd: warning: cannot record the pid in hvd.lock\n");
}

static int lock_state_dir(const char *dir)
{
	char path[4200], pid[32];
	int fd, n;

	snprintf(path, sizeof(path), "%s/hvd.lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "hvd: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		n = (int)read(fd, pid, sizeof(pid) - 1);
		pid[n > 0 ? n : 0] = '\0';
		fprintf(stderr, "hvd: another hvd (pid %s) is already using the state directory %s\n",
			n > 0 ? strtok(pid, "\n") : "?", dir);
		close(fd);
		return -1;
	}
	record_pid(fd);
	return fd; /* held open (and locked) for the life of the process */
}

static void on_signal(int sig)
{
	(void)sig;
	hvd_server_stop();
}

static int parse_level(const char *s, enum hvd_log_level *out)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	int i;

	for (i = 0; i < 4; i++) {
		if (strcasecmp(s, names[i]) == 0) {
			*out = (enum hvd_log_level)i;
			return 0;
		}
	}
	return -1;
}

/* Forks; the parent exits 0 once the child reports (on a pipe) that it listens, or 1 with
 * the child's failure.  Returns the write end the child reports on. */
static int detach(void)
{
	int p[2], null;
	char c = 1;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0) {
		close(p[1]);
		if (read(p[0], &c, 1) != 1)
			c = 1;
		_exit(c);
	}
	close(p[0]);
	setsid();
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		close(null);
	}
	return p[1];
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "ro-socket", required_argument, NULL, 'r' },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "group", required_argument, NULL, 'g' },
		{ "memory-budget", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	char sock[4096], ro[4096], state[4096], canon[PATH_MAX], logpath[4200];
	struct hvd_config cfg = { 0 };
	struct hvd_store *store = NULL;
	enum hvd_log_level level = HVD_LOG_INFO;
	bool foreground = false, have_ro = false, have_sock = false;
	struct sigaction sa = { .sa_handler = on_signal };
	int c, rc, lock_fd, ready_fd = -1;
	char status = 1;

	if (wire_path_socket(sock, sizeof(sock)) || wire_path_state_dir(state, sizeof(state))) {
		fprintf(stderr, "hvd: the default paths are too long; give --socket and --state-dir\n");
		return 2;
	}
	while ((c = getopt_long(argc, argv, "s:r:d:fl:hV", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			snprintf(sock, sizeof(sock), "%s", optarg);
			have_sock = true;
			break;
		case 'r':
			snprintf(ro, sizeof(ro), "%s", optarg);
			have_ro = true;
			break;
		case 'd':
			snprintf(state, sizeof(state), "%s", optarg);
			break;
		case 'f':
			foreground = true;
			break;
		case 'g':
			cfg.group = optarg;
			cfg.group_given = true;
			break;
		case 'm': {
			char *end;
			unsigned long long v = strtoull(optarg, &end, 10);

			if (end == optarg || (*end && strcmp(end, "M") && strcmp(end, "MB") && strcmp(end, "G") && strcmp(end, "GB"))) {
				fprintf(stderr, "hvd: --memory-budget %s: give bytes, or a number with M or G\n", optarg);
				return 2;
			}
			v <<= *end == 'M' ? 20 : *end == 'G' ? 30 : 0;
			hvd_memory_budget_set(v);
			break;
		}
		case 'l':
			if (parse_level(optarg, &level)) {
				fprintf(stderr, "hvd: unknown log level '%s': use error, warning, info or debug\n", optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("hvd (hvkit) %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "hvd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (!have_ro && wire_path_ro_socket(sock, ro, sizeof(ro))) {
		fprintf(stderr, "hvd: socket path too long: %s\n", sock);
		return 2;
	}
	if (make_parent(sock, !have_sock) || make_parent(ro, !have_sock && !have_ro))
		return 1;
	if ((rc = hvd_mkdir_p(state, 0700)) != 0) {
		fprintf(stderr, "hvd: cannot create the state directory %s: %s\n", state, strerror(-rc));
		return 1;
	}
	/* Every path hvd stores (pool.xml, vm.xml, disks) is built from this one canonical
	 * spelling, so a restart with DIR/, a symlink or a relative path finds them as its own. */
	if (!realpath(state, canon)) {
		fprintf(stderr, "hvd: cannot resolve the state directory %s: %s\n", state,
			strerror(errno));
		return 1;
	}
	snprintf(state, sizeof(state), "%s", canon);
	lock_fd = lock_state_dir(state);
	if (lock_fd < 0)
		return 1;
	snprintf(logpath, sizeof(logpath), "%s/hvd.log", state);
	if (!foreground) {
		ready_fd = detach();
		if (ready_fd < 0) {
			fprintf(stderr, "hvd: cannot detach: %s\n", strerror(errno));
			return 1;
		}
		/* The lock (inherited) belongs to the child now: record its pid. */
		record_pid(lock_fd);
	}
	hvd_log_open(logpath, level, foreground);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	xmlInitParser();

	rc = hvd_store_open(state, &store);
	if (rc) {
		hvd_log(HVD_LOG_ERROR, "cannot open the state directory %s: %s", state, strerror(-rc));
		goto out;
	}
	rc = hvd_audit_open(state);
	if (rc) {
		hvd_log(HVD_LOG_ERROR, "cannot open the audit log in %s: %s", state, strerror(-rc));
		goto out;
	}
	if (!cfg.group && geteuid() == 0)
		cfg.group = "hvkit"; /* the default group of administrators */
	cfg.socket_path = sock;
	cfg.ro_socket_path = ro;
	cfg.state_dir = state;
	cfg.ready_fd = ready_fd;
	rc = hvd_server_run(&cfg, store);
	ready_fd = cfg.ready_fd;
out:
	if (ready_fd >= 0) {
		/* Never got to listen: tell the waiting parent. */
		if (write(ready_fd, &status, 1) < 0)
			status = 1;
		close(ready_fd);
	}
	hvd_audit_close();
	hvd_store_free(store);
	xmlCleanupParser();
	close(lock_fd);
	return rc ? 1 : 0;
}
