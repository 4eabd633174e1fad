check_PROGRAMS += tests/daemon/test-hvd tests/daemon/test-partitions
TESTS += tests/daemon/test-hvd tests/daemon/test-partitions
tests_daemon_test_partitions_SOURCES = tests/daemon/test-partitions.c tests/daemon/harness.c tests/daemon/harness.h
tests_daemon_test_partitions_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_daemon_test_partitions_LDADD = $(CMOCKA_LIBS)
tests_daemon_test_hvd_SOURCES = tests/daemon/test-hvd.c tests/daemon/harness.c tests/daemon/harness.h
tests_daemon_test_hvd_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_daemon_test_hvd_LDADD = wire-protocol/libhvwire.a $(CMOCKA_LIBS)
