/*
 * The SSH transport: -H ssh://[user@]host[:port][/path/to/hvd.sock].  libssh connects with
 * the settings of ~/.ssh/config (or the file named by -F / HVKIT_SSH_CONFIG instead, as
 * `ssh -F` does), checks the host key against known_hosts, authenticates (agent, then key
 * files, then interactively a password), and runs `hvctl --bridge` on the far host
 * ($HVKIT_REMOTE_HVCTL when it is not `hvctl` on the far PATH).  A thread pumps bytes
 * between the channel and one end of a socketpair, so the wire protocol's client runs over
 * SSH exactly as over a Unix socket; when the channel ends, the socketpair closes and the
 * client reports the lost connection.
 */
#include "config.h"

#include <ctype.h>
#include <fcntl.h>
#include <errno.h>
#include <fnmatch.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <libssh/libssh.h>

#include "cli/ssh.h"

struct ssh_link {
	ssh_session session;
	ssh_channel channel;
	int fd; /* our end of the socketpair */
	pthread_t thread;
};

struct ssh_target {
	char user[128], host[256], socket[1024];
	int port; /* 0: from the config, else 22 */
};

/* ssh://[user@]host[:port][/socket] */
static int parse_uri(const char *uri, struct ssh_target *t)
{
	const char *p = uri + 6, *at, *slash, *colon, *end;

	memset(t, 0, sizeof(*t));
	slash = strchr(p, '/');
	end = slash ? slash : p + strlen(p);
	at = memchr(p, '@', (size_t)(end - p));
	if (at) {
		if ((size_t)(at - p) >= sizeof(t->user) || at == p)
			return -EINVAL;
		memcpy(t->user, p, (size_t)(at - p));
		p = at + 1;
	}
	colon = memchr(p, ':', (size_t)(end - p));
	if ((size_t)((colon ? colon : end) - p) >= sizeof(t->host) || (colon ? colon : end) == p)
		return -EINVAL;
	memcpy(t->host, p, (size_t)((colon ? colon : end) - p));
	if (colon) {
		char *e;
		long port = strtol(colon + 1, &e, 10);

		if (e != end || port < 1 || port > 65535)
			return -EINVAL;
		t->port = (int)port;
	}
	if (slash && slash[1])
		snprintf(t->socket, sizeof(t->socket), "%s", slash);
	return 0;
}

/* StrictHostKeyChecking for host, read the way ssh reads it: the first value of a Host
 * block that matches.  libssh parses the rest of the file itself. */
static int strict_checking(const char *config, const char *host)
{
	FILE *f = fopen(config, "r");
	char line[1024];
	bool match = true;
	int value = 1; /* yes */

	while (f && fgets(line, sizeof(line), f)) {
		char key[64], arg[512], *p = line;

		while (isspace((unsigned char)*p))
			p++;
		if (sscanf(p, "%63s %511[^\n]", key, arg) != 2 || key[0] == '#')
			continue;
		if (!strcasecmp(key, "Host")) {
			char *tok, *save = NULL;

			match = false;
			for (tok = strtok_r(arg, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save))
				if (fnmatch(tok, host, FNM_CASEFOLD) == 0)
					match = true;
		} else if (match && !strcasecmp(key, "StrictHostKeyChecking")) {
			value = !strncasecmp(arg, "no", 2) || !strncasecmp(arg, "off", 3) ? 0
				: !strncasecmp(arg, "accept-new", 10)                   ? 2
											: 1;
			break;
		}
	}
	if (f)
		fclose(f);
	return value;
}

static char *fingerprint(ssh_session s)
{
	ssh_key key = NULL;
	unsigned char *hash = NULL;
	size_t len = 0;
	char *fp = NULL;

	if (ssh_get_server_publickey(s, &key) == SSH_OK &&
	    ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &len) == 0)
		fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, len);
	ssh_clean_pubkey_hash(&hash);
	ssh_key_free(key);
	return fp;
}

static int check_host_key(ssh_session s, const struct ssh_target *t, int strict, bool accept_new)
{
	enum ssh_known_hosts_e k = ssh_session_is_known_server(s);
	char *fp = fingerprint(s), where[300], *host = NULL;
	unsigned int port = 22;
	int rc = -1;

	/* Name the host as known_hosts does: the address the config resolved, with its port. */
	ssh_options_get(s, SSH_OPTIONS_HOST, &host);
	ssh_options_get_port(s, &port);
	if (port != 22)
		snprintf(where, sizeof(where), "[%s]:%u", host ? host : t->host, port);
	else
		snprintf(where, sizeof(where), "%s", host ? host : t->host);
	switch (k) {
	case SSH_KNOWN_HOSTS_OK:
		rc = 0;
		break;
	case SSH_KNOWN_HOSTS_CHANGED:
	case SSH_KNOWN_HOSTS_OTHER:
		fprintf(stderr,
			"hvctl: WARNING: the host key of %s has CHANGED (now %s): someone may be intercepting the "
			"connection, or the host was reinstalled. Refusing to connect. If the change is expected, "
			"remove the old key with: ssh-keygen -R '%s'\n",
			where, fp ? fp : "?", where);
		break;
	case SSH_KNOWN_HOSTS_NOT_FOUND:
	case SSH_KNOWN_HOSTS_UNKNOWN:
		if (accept_new || strict == 2 || strict == 0) {
			if (ssh_session_update_known_hosts(s) != SSH_OK)
				fprintf(stderr, "hvctl: warning: could not record the host key of %s: %s\n", where,
					ssh_get_error(s));
			else
				fprintf(stderr, "hvctl: added the host key of %s (%s) to the known hosts\n", where, fp ? fp : "?");
			rc = 0;
			break;
		}
		fprintf(stderr,
			"hvctl: the host key of %s (%s) is not known. Check it, then accept it with "
			"--accept-new-host-key (or HVKIT_SSH_ACCEPT_NEW=1), or add it with: ssh-keyscan -p %u %s >> "
			"~/.ssh/known_hosts\n",
			where, fp ? fp : "?", port, host ? host : t->host);
		break;
	case SSH_KNOWN_HOSTS_ERROR:
		fprintf(stderr, "hvctl: cannot check the host key of %s: %s\n", where, ssh_get_error(s));
		break;
	}
	ssh_string_free_char(fp);
	ssh_string_free_char(host);
	return rc;
}

static int authenticate(ssh_session s, const struct ssh_target *t)
{
	char prompt[400];
	char *user = NULL;
	int rc = ssh_userauth_none(s, NULL);

	if (rc == SSH_AUTH_SUCCESS)
		return 0;
	/* The agent, then the IdentityFile keys and the default ones. */
	rc = ssh_userauth_publickey_auto(s, NULL, NULL);
	if (rc == SSH_AUTH_SUCCESS)
		return 0;
	if (isatty(0) && isatty(2)) {
		const char *pw;

		ssh_options_get(s, SSH_OPTIONS_USER, &user);
		snprintf(prompt, sizeof(prompt), "%s@%s's password: ", user ? user : "?", t->host);
		ssh_string_free_char(user);
		pw = getpass(prompt);
		if (pw && ssh_userauth_password(s, NULL, pw) == SSH_AUTH_SUCCESS)
			return 0;
	}
	ssh_options_get(s, SSH_OPTIONS_USER, &user);
	fprintf(stderr,
		"hvctl: cannot authenticate to %s@%s: the server accepted none of the agent's keys, the key files "
		"(IdentityFile) or a password%s\n",
		user ? user : "?", t->host, isatty(0) ? "" : " (no terminal to ask for one)");
	ssh_string_free_char(user);
	return -1;
}

/*
 * The pumps still running when the process exits. exit() runs libssh's and libcrypto's
 * destructors, and a pump still inside libssh then crashed (seen once in CI: hvctl killed by
 * SIGSEGV as the far side's error came in). An atexit handler, which runs before any
 * library's destructor, wakes every pump through a pipe and waits (at most 2 s) until they
 * have let go of libssh.
 */
static pthread_mutex_t pumps_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pumps_done = PTHREAD_COND_INITIALIZER;
static int pumps_live;
static int stop_pipe[2] = { -1, -1 };

static void pumps_end(void)
{
	struct timespec until;

	if (stop_pipe[1] >= 0 && write(stop_pipe[1], "x", 1) < 0) {
		/* the pumps then end at their next turn (at most 500 ms) */
	}
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 2;
	pthread_mutex_lock(&pumps_lock);
	while (pumps_live > 0 && pthread_cond_timedwait(&pumps_done, &pumps_lock, &until) == 0)
		;
	pthread_mutex_unlock(&pumps_lock);
}

/* Counts a pump in (the first one sets up the exit handler); false when that fails. */
static bool pump_enter(void)
{
	bool ok = true;

	pthread_mutex_lock(&pumps_lock);
	if (stop_pipe[0] < 0) {
		if (pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0 || atexit(pumps_end) != 0)
			ok = false;
	}
	if (ok)
		pumps_live++;
	pthread_mutex_unlock(&pumps_lock);
	return ok;
}

static void pump_leave(void)
{
	pthread_mutex_lock(&pumps_lock);
	pumps_live--;
	pthread_cond_broadcast(&pumps_done);
	pthread_mutex_unlock(&pumps_lock);
}

static bool stopping(void)
{
	struct pollfd p = { .fd = stop_pipe[0], .events = POLLIN };

	return poll(&p, 1, 0) > 0;
}

/* Moves bytes both ways until either side ends, or the process exits. */
static void *pump(void *arg)
{
	struct ssh_link *l = arg;
	char buf[65536];
	int idle = 0;          /* turns without traffic */
	bool awaiting = false; /* sent something, nothing back yet */

	for (;;) {
		struct pollfd p[3] = { { .fd = l->fd, .events = POLLIN },
				       { .fd = ssh_get_fd(l->session), .events = POLLIN },
				       { .fd = stop_pipe[0], .events = POLLIN } };
		int n, moved = 0, buffered = ssh_channel_poll(l->channel, 0) + ssh_channel_poll(l->channel, 1);

		/* libssh can hold packets it read off the socket but has not handed out yet, with
		 * nothing left for poll() to see: right after traffic, look again soon. */
		if (poll(p, 3, buffered > 0 ? 0 : awaiting || idle < 50 ? 2 : 500) < 0 && errno != EINTR)
			break;
		if (p[2].revents)
			break; /* the process is exiting */
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = read(l->fd, buf, sizeof(buf));

			if (r <= 0)
				break;
			if (ssh_channel_write(l->channel, buf, (uint32_t)r) != r)
				break;
			moved = 1;
			awaiting = true;
		}
		while ((n = ssh_channel_read_nonblocking(l->channel, buf, sizeof(buf), 0)) > 0) {
			ssize_t off = 0;

			moved = 1;
			awaiting = false;
			while (off < n) {
				ssize_t w = write(l->fd, buf + off, (size_t)(n - off));

				if (w <= 0)
					goto out;
				off += w;
			}
		}
		if (n < 0)
			break;
		/* What the far hvctl says on its stderr (it could not reach hvd, say). */
		while ((n = ssh_channel_read_nonblocking(l->channel, buf, sizeof(buf), 1)) > 0)
			if (write(2, buf, (size_t)n) < 0)
				break;
		if (ssh_channel_is_eof(l->channel) || !ssh_channel_is_open(l->channel))
			break; /* after what came with the end was passed on */
		idle = moved ? 0 : idle + 1;
	}
out:
	/* The far side's last words (an error on its stderr) may still be in libssh's hands. */
	{
		int n;

		while (!stopping() && (n = ssh_channel_read_timeout(l->channel, buf, sizeof(buf), 1, 200)) > 0)
			if (write(2, buf, (size_t)n) < 0)
				break;
	}
	shutdown(l->fd, SHUT_RDWR);
	/* The link is the pump's: it ends with it. */
	ssh_channel_close(l->channel);
	ssh_channel_free(l->channel);
	ssh_disconnect(l->session);
	ssh_free(l->session);
	close(l->fd);
	free(l);
	pump_leave();
	return NULL;
}

static bool yes(const char *v)
{
	return v && *v && strcmp(v, "0") && strcasecmp(v, "no") && strcasecmp(v, "false");
}

static char *shell_quote(const char *s)
{
	size_t n = strlen(s), i, k = 0;
	char *q = malloc(n * 4 + 3);

	if (!q)
		abort();
	q[k++] = '\'';
	for (i = 0; i < n; i++) {
		if (s[i] == '\'') {
			memcpy(q + k, "'\\''", 4);
			k += 4;
		} else {
			q[k++] = s[i];
		}
	}
	q[k++] = '\'';
	q[k] = '\0';
	return q;
}

int cli_ssh_connect(const char *uri, const char *config, bool accept_new, struct wire_conn **out)
{
	struct ssh_target t;
	struct ssh_link *l;
	const char *remote = getenv("HVKIT_REMOTE_HVCTL");
	char *cmd = NULL, *qprog, *qsock = NULL;
	int sv[2], strict = 1, rc;

	if (parse_uri(uri, &t)) {
		fprintf(stderr, "hvctl: '%s' is not an SSH URI: use ssh://[user@]host[:port][/path/to/hvd.sock]\n", uri);
		return -1;
	}
	if (!config)
		config = getenv("HVKIT_SSH_CONFIG");
	l = calloc(1, sizeof(*l));
	if (!l)
		abort();
	l->fd = -1;
	l->session = ssh_new();
	if (!l->session)
		abort();
	ssh_options_set(l->session, SSH_OPTIONS_HOST, t.host);
	if (config) {
		bool no = false;

		/* Like ssh -F: this file instead of ~/.ssh/config, and it must be there. */
		ssh_options_set(l->session, SSH_OPTIONS_PROCESS_CONFIG, &no);
		if (access(config, R_OK) != 0 || ssh_options_parse_config(l->session, config) != 0) {
			fprintf(stderr, "hvctl: cannot read the SSH configuration %s: %s\n", config, strerror(errno));
			goto fail;
		}
		strict = strict_checking(config, t.host);
	} else {
		char path[1024];
		const char *home = getenv("HOME");

		ssh_options_parse_config(l->session, NULL);
		snprintf(path, sizeof(path), "%s/.ssh/config", home ? home : "");
		strict = strict_checking(path, t.host);
	}
	if (t.user[0])
		ssh_options_set(l->session, SSH_OPTIONS_USER, t.user);
	if (t.port)
		ssh_options_set(l->session, SSH_OPTIONS_PORT, &t.port);
	if (ssh_connect(l->session) != SSH_OK) {
		fprintf(stderr, "hvctl: cannot connect to %s over SSH: %s\n", t.host, ssh_get_error(l->session));
		goto fail;
	}
	if (check_host_key(l->session, &t, strict, accept_new || yes(getenv("HVKIT_SSH_ACCEPT_NEW"))) ||
	    authenticate(l->session, &t))
		goto fail;
	l->channel = ssh_channel_new(l->session);
	if (!l->channel || ssh_channel_open_session(l->channel) != SSH_OK) {
		fprintf(stderr, "hvctl: %s refused an SSH session: %s\n", t.host, ssh_get_error(l->session));
		goto fail;
	}
	qprog = shell_quote(remote && *remote ? remote : "hvctl");
	if (t.socket[0])
		qsock = shell_quote(t.socket);
	if (asprintf(&cmd, "%s --bridge%s%s", qprog, qsock ? " --socket " : "", qsock ? qsock : "") < 0)
		abort();
	free(qprog);
	free(qsock);
	rc = ssh_channel_request_exec(l->channel, cmd);
	free(cmd);
	if (rc != SSH_OK) {
		fprintf(stderr, "hvctl: %s would not run hvctl --bridge: %s\n", t.host, ssh_get_error(l->session));
		goto fail;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		goto fail;
	l->fd = sv[1];
	if (!pump_enter()) {
		close(sv[0]);
		goto fail;
	}
	if (pthread_create(&l->thread, NULL, pump, l) != 0) {
		pump_leave();
		close(sv[0]);
		goto fail;
	}
	pthread_detach(l->thread);
	if (wire_conn_from_fds(sv[0], sv[0], out) != 0) {
		close(sv[0]);
		return -1;
	}
	return 0; /* the pump thread owns the link from here, and frees it when it ends */
fail:
	if (l->channel)
		ssh_channel_free(l->channel);
	ssh_disconnect(l->session);
	ssh_free(l->session);
	if (l->fd >= 0)
		close(l->fd);
	free(l);
	return -1;
}
