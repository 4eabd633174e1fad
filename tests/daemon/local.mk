check_PROGRAMS += tests/daemon/test-hvd
TESTS += tests/daemon/test-hvd
tests_daemon_test_hvd_SOURCES = tests/daemon/test-hvd.c tests/daemon/harness.c tests/daemon/harness.h
tests_daemon_test_hvd_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_daemon_test_hvd_LDADD = wire-protocol/libhvwire.a $(CMOCKA_LIBS)
