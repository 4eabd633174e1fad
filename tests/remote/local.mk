# hvctl over SSH against a real OpenSSH server (skipped without one).
check_PROGRAMS += tests/remote/test-ssh
TESTS += tests/remote/test-ssh
tests_remote_test_ssh_SOURCES = tests/remote/test-ssh.c tests/daemon/harness.c tests/daemon/harness.h
tests_remote_test_ssh_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_remote_test_ssh_LDADD = $(CMOCKA_LIBS)
