/* hvctl over SSH, against a real OpenSSH server on 127.0.0.1 with keys made for the test, and
 * a real hvd behind it. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/daemon/harness.h"

#define SSHD "/usr/sbin/sshd"

#define assert_err(res, text)                                                                        \
	do {                                                                                         \
		if (!strstr((res).err, (text)))                                                      \
			fail_msg("expected [%s] in stderr (exit %d):\n%s", (text), (res).status, (res).err); \
	} while (0)

struct remote {
	struct hvd_instance hvd;
	char dir[300];
	int port;
	pid_t sshd;
	char config[400], uri[700], known[400];
};

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static int free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *read_text(const char *path)
{
	static char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void keygen(const struct remote *r, const char *name)
{
	char path[400];
	char *argv[] = { "/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path, NULL };
	struct run_result res;

	snprintf(path, sizeof(path), "%s/%s", r->dir, name);
	run_program(argv, NULL, &res);
	assert_int_equal(res.status, 0);
	run_result_free(&res);
}

/* known_hosts holding the given public key for the test server. */
static void trust(const struct remote *r, const char *pubkey_file)
{
	char path[400], line[1024], *pub;

	snprintf(path, sizeof(path), "%s/%s", r->dir, pubkey_file);
	pub = read_text(path);
	pub[strcspn(pub, "\n")] = '\0';
	*strrchr(pub, ' ') = '\0'; /* drop the comment */
	snprintf(line, sizeof(line), "[127.0.0.1]:%d %s\n", r->port, pub);
	write_text(r->known, line);
}

static void client_config(const struct remote *r, const char *identity)
{
	char text[2048];

	snprintf(text, sizeof(text),
		 "Host hv1\n  HostName 127.0.0.1\n  Port %d\n  User root\n  IdentityFile %s/%s\n"
		 "  UserKnownHostsFile %s\n  StrictHostKeyChecking yes\n",
		 r->port, r->dir, identity, r->known);
	write_text(r->config, text);
}

static pid_t start_sshd_on(struct remote *r, int port, const char *name);

static void start_sshd(struct remote *r)
{
	r->sshd = start_sshd_on(r, r->port, "sshd");
}

static pid_t start_sshd_on(struct remote *r, int port, const char *name)
{
	char conf[400], text[2048], log[400];
	pid_t pid;
	int i;

	snprintf(conf, sizeof(conf), "%s/%s_config", r->dir, name);
	snprintf(log, sizeof(log), "%s/%s.log", r->dir, name);
	snprintf(text, sizeof(text),
		 "Port %d\nListenAddress 127.0.0.1\nHostKey %s/host_key\nAuthorizedKeysFile %s/authorized_keys\n"
		 "PidFile %s/%s.pid\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n"
		 "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n",
		 port, r->dir, r->dir, r->dir, name);
	write_text(conf, text);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setpgid(0, 0);
		execl(SSHD, SSHD, "-D", "-f", conf, "-E", log, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 100; i++) {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
					  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int fd = socket(AF_INET, SOCK_STREAM, 0), ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;

		close(fd);
		if (ok)
			return pid;
		sleep_ms(50);
	}
	fail_msg("sshd did not start: %s", read_text(log));
	return -1;
}

/* Every process descended from pid (sshd's sessions and the far hvctl). */
static void signal_tree(pid_t root, int sig)
{
	pid_t todo[256];
	size_t n = 1, i;

	todo[0] = root;
	for (i = 0; i < n; i++) {
		DIR *d = opendir("/proc");
		struct dirent *e;

		while (d && (e = readdir(d))) {
			char path[300], buf[512];
			FILE *f;
			int pid, ppid;

			if (e->d_name[0] < '0' || e->d_name[0] > '9')
				continue;
			snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
			f = fopen(path, "r");
			if (!f)
				continue;
			if (fgets(buf, sizeof(buf), f) && strrchr(buf, ')') &&
			    sscanf(strrchr(buf, ')') + 2, "%*c %d", &ppid) == 1 && ppid == todo[i] && n < 256) {
				pid = atoi(e->d_name);
				todo[n++] = pid;
			}
			fclose(f);
		}
		if (d)
			closedir(d);
	}
	for (i = 0; i < n; i++)
		kill(todo[i], sig);
}

static int setup(void **state)
{
	struct remote *r = calloc(1, sizeof(*r));
	char path[400];

	hvd_start(&r->hvd);
	snprintf(r->dir, sizeof(r->dir), "%s", r->hvd.dir);
	r->port = free_port();
	snprintf(r->config, sizeof(r->config), "%s/ssh_config", r->dir);
	snprintf(r->known, sizeof(r->known), "%s/known_hosts", r->dir);
	snprintf(r->uri, sizeof(r->uri), "ssh://hv1%s", r->hvd.sock);
	keygen(r, "host_key");
	keygen(r, "other_host_key");
	keygen(r, "user_key");
	keygen(r, "other_user_key");
	snprintf(path, sizeof(path), "%s/authorized_keys", r->dir);
	{
		char pub[400];

		snprintf(pub, sizeof(pub), "%s/user_key.pub", r->dir);
		write_text(path, read_text(pub));
	}
	trust(r, "host_key.pub");
	client_config(r, "user_key");
	start_sshd(r);
	setenv("HVKIT_REMOTE_HVCTL", build_path("cli/hvctl"), 1);
	setenv("HVKIT_SSH_CONFIG", r->config, 1);
	*state = r;
	return 0;
}

static int teardown(void **state)
{
	struct remote *r = *state;

	if (r->sshd > 0) {
		signal_tree(r->sshd, SIGCONT);
		signal_tree(r->sshd, SIGKILL);
		waitpid(r->sshd, NULL, 0);
	}
	hvd_cleanup(&r->hvd);
	free(r);
	return 0;
}

static void test_cmdlets_over_ssh(void **state)
{
	struct remote *r = *state;
	struct run_result res;

	hvctl_run(NULL, r->uri, "New-VM remote1 -ProcessorCount 2 | Out-Null; Get-VM | Select-Object -ExpandProperty Name", &res, NULL);
	if (res.status != 0)
		fail_msg("exit %d: %s", res.status, res.err);
	assert_string_equal(res.out, "remote1\n");
	run_result_free(&res);
	/* The far side is the same hvd: seen locally too. */
	hvctl_run(&r->hvd, NULL, "(Get-VM remote1).ProcessorCount", &res, NULL);
	assert_string_equal(res.out, "2\n");
	run_result_free(&res);
	/* JSON through the tunnel is byte for byte what the local socket gives. */
	{
		struct run_result local;

		hvctl_run(NULL, r->uri, "Get-VM remote1 | Select-Object Name, ProcessorCount, MemoryStartup", &res, "-o", "json", NULL);
		hvctl_run(&r->hvd, NULL, "Get-VM remote1 | Select-Object Name, ProcessorCount, MemoryStartup", &local, "-o", "json", NULL);
		assert_string_equal(res.out, local.out);
		run_result_free(&local);
		run_result_free(&res);
	}
	/* hvtop watches over SSH too. */
	{
		char *argv[] = { (char *)build_path("cli/hvtop"), "-b", "-n", "1", "-H", r->uri, NULL };

		run_program(argv, NULL, &res);
		if (res.status != 0 || !strstr(res.out, "remote1"))
			fail_msg("hvtop over SSH: exit %d\n%s%s", res.status, res.out, res.err);
		run_result_free(&res);
	}
	/* A socket path that has no hvd: the far hvctl says so. */
	hvctl_run(NULL, "ssh://hv1/nonexistent/hvd.sock", "Get-VM", &res, NULL);
	assert_int_equal(res.status, 3);
	assert_err(res, "cannot connect to hvd at /nonexistent/hvd.sock");
	run_result_free(&res);
}

static void test_host_keys(void **state)
{
	struct remote *r = *state;
	struct run_result res;

	trust(r, "other_host_key.pub");
	hvctl_run(NULL, r->uri, "Get-VM", &res, NULL);
	assert_int_equal(res.status, 3);
	assert_err(res, "has CHANGED");
	assert_err(res, "ssh-keygen -R");
	run_result_free(&res);

	write_text(r->known, "");
	hvctl_run(NULL, r->uri, "Get-VM", &res, NULL);
	assert_int_equal(res.status, 3);
	assert_err(res, "is not known");
	run_result_free(&res);
	hvctl_run(NULL, r->uri, "(Get-VM).Count", &res, "--accept-new-host-key", NULL);
	assert_int_equal(res.status, 0);
	assert_string_equal(res.out, "0\n");
	run_result_free(&res);
	/* Recorded: the next connection needs no option. */
	hvctl_run(NULL, r->uri, "(Get-VM).Count", &res, NULL);
	assert_int_equal(res.status, 0);
	run_result_free(&res);
}

static void test_wrong_key(void **state)
{
	struct remote *r = *state;
	struct run_result res;

	client_config(r, "other_user_key");
	hvctl_run(NULL, r->uri, "Get-VM", &res, NULL);
	assert_int_equal(res.status, 3);
	assert_err(res, "cannot authenticate to root@hv1");
	run_result_free(&res);
}

/* The server goes away mid-script: a clear error, not a hang. */
static void test_server_killed(void **state)
{
	struct remote *r = *state;
	char *argv[] = { (char *)build_path("cli/hvctl"), "-H", r->uri, "-c",
			 "(Get-VM).Count; Start-Sleep 3; Get-VM", NULL };
	struct run_result res;
	pid_t killer = fork();

	assert_true(killer >= 0);
	if (killer == 0) {
		sleep_ms(1500);
		signal_tree(r->sshd, SIGKILL);
		_exit(0);
	}
	run_program(argv, NULL, &res);
	waitpid(killer, NULL, 0);
	/* The first statement ran; the second finds the connection gone, tries again, and says. */
	assert_int_equal(res.status, 3);
	assert_string_equal(res.out, "0\n");
	if (!strstr(res.err, "lost the connection to hvd") && !strstr(res.err, "cannot connect to hv1 over SSH"))
		fail_msg("no clear error:\n%s", res.err);
	run_result_free(&res);
	r->sshd = 0;
}

/* A server that stops answering (but keeps the connection) is given up after the keepalive. */
static void test_server_hung(void **state)
{
	struct remote *r = *state;
	char *argv[] = { (char *)build_path("cli/hvctl"), "-H", r->uri, "-c",
			 "(Get-VM).Count; Start-Sleep 1; Get-VM", NULL };
	struct run_result res;
	time_t t0 = time(NULL);
	pid_t stopper;

	setenv("HVKIT_KEEPALIVE_MS", "500", 1);
	stopper = fork();
	assert_true(stopper >= 0);
	if (stopper == 0) {
		sleep_ms(800);
		signal_tree(r->sshd, SIGSTOP);
		_exit(0);
	}
	run_program(argv, NULL, &res);
	waitpid(stopper, NULL, 0);
	unsetenv("HVKIT_KEEPALIVE_MS");
	assert_int_equal(res.status, 3);
	assert_string_equal(res.out, "0\n");
	if (!strstr(res.err, "Connection timed out") && !strstr(res.err, "Timeout connecting"))
		fail_msg("no clear error:\n%s", res.err);
	assert_true(time(NULL) - t0 < 30);
	run_result_free(&res);
}

/* Two hosts, each an hvd behind its own sshd: -ComputerName, Invoke-Command in parallel with
 * a failing third, Enter-PSSession. */
static void test_two_hosts(void **state)
{
	struct remote *r = *state;
	struct hvd_instance h2;
	char conf[2048], line[4096], script[8192], uri2[700], bad[200], *pub;
	int port2 = free_port();
	pid_t sshd2 = start_sshd_on(r, port2, "sshd2");
	struct run_result res;
	FILE *f;

	hvd_start(&h2);
	snprintf(uri2, sizeof(uri2), "ssh://hv2%s", h2.sock);
	snprintf(bad, sizeof(bad), "ssh://hv2/nonexistent/hvd.sock");
	/* The second server has the same host key, under its own port. */
	snprintf(line, sizeof(line), "%s/host_key.pub", r->dir);
	pub = read_text(line);
	pub[strcspn(pub, "\n")] = '\0';
	*strrchr(pub, ' ') = '\0';
	f = fopen(r->known, "a");
	assert_non_null(f);
	fprintf(f, "[127.0.0.1]:%d %s\n", port2, pub);
	fclose(f);
	snprintf(conf, sizeof(conf), "Host hv2\n  HostName 127.0.0.1\n  Port %d\n  User root\n  IdentityFile %s/user_key\n"
		 "  UserKnownHostsFile %s\n", port2, r->dir, r->known);
	f = fopen(r->config, "a");
	assert_non_null(f);
	fputs(conf, f);
	fclose(f);

	hvctl_run(&r->hvd, NULL, "New-VM a1 | Out-Null", &res, NULL);
	run_result_free(&res);
	hvctl_run(&h2, NULL, "New-VM b1 | Out-Null; New-VM b2 | Out-Null", &res, NULL);
	run_result_free(&res);

	snprintf(script, sizeof(script), "Get-VM -ComputerName %s,%s | ForEach-Object { \"$($_.Name) $($_.PSComputerName)\" }",
		 r->uri, uri2);
	hvctl_run(&r->hvd, NULL, script, &res, NULL);
	if (res.status)
		fail_msg("exit %d: %s", res.status, res.err);
	snprintf(line, sizeof(line), "a1 %s\nb1 %s\nb2 %s\n", r->uri, uri2, uri2);
	assert_string_equal(res.out, line);
	run_result_free(&res);

	/* Invoke-Command: all hosts at once; a failing one is reported, the others answer. */
	snprintf(script, sizeof(script),
		 "Invoke-Command -ComputerName %s,%s,%s -ScriptBlock { (Get-VM).Count } | Sort-Object", r->uri, bad, uri2);
	hvctl_run(&r->hvd, NULL, script, &res, NULL);
	if (res.status != 1 || strcmp(res.out, "1\n2\n"))
		fail_msg("exit %d, out [%s], err:\n%s", res.status, res.out, res.err);
	snprintf(line, sizeof(line), "[%s]", bad);
	assert_err(res, line);
	assert_err(res, "cannot connect to hvd at /nonexistent/hvd.sock");
	run_result_free(&res);
	snprintf(script, sizeof(script),
		 "Invoke-Command -ComputerName %s,%s -ScriptBlock { Get-VM | Select-Object Name } | Sort-Object Name | "
		 "ForEach-Object { $_.PSComputerName -eq '%s' }", r->uri, uri2, uri2);
	hvctl_run(&r->hvd, NULL, script, &res, NULL);
	assert_string_equal(res.out, "False\nTrue\nTrue\n");
	run_result_free(&res);

	/* Enter-PSSession moves the session; Exit-PSSession brings it back. */
	snprintf(script, sizeof(script), "Enter-PSSession %s\n(Get-VM).Count\nExit-PSSession\n(Get-VM).Count", uri2);
	hvctl_run(&r->hvd, NULL, script, &res, NULL);
	assert_int_equal(res.status, 0);
	assert_string_equal(res.out, "2\n1\n");
	run_result_free(&res);

	signal_tree(sshd2, SIGKILL);
	waitpid(sshd2, NULL, 0);
	hvd_cleanup(&h2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cmdlets_over_ssh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_killed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_hung, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_hosts, setup, teardown),
	};

	if (access(SSHD, X_OK) != 0 || access("/usr/bin/ssh-keygen", X_OK) != 0) {
		printf("SKIP: needs OpenSSH's server and ssh-keygen (Debian packages openssh-server, openssh-client)\n");
		return 77;
	}
	if (geteuid() != 0) {
		printf("SKIP: the test's sshd logs in as root with a test key, which needs root\n");
		return 77;
	}
	mkdir("/run/sshd", 0755); /* sshd's privilege separation folder */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
