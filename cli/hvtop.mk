# hvtop: the live dashboard (ncurses), and its tests and bench.  It talks to hvd only through
# libhvwire (and libhvremote, hvctl's SSH transport): never libhvcore or libvhdx (DESIGN.md).
bin_PROGRAMS += cli/hvtop
cli_hvtop_SOURCES = cli/hvtop.c cli/top-model.c cli/top-model.h cli/top-conn.c cli/top-conn.h \
	cli/top-batch.c cli/top-view.c cli/top-view.h cli/top-ui.c
cli_hvtop_CFLAGS = $(AM_CFLAGS) $(NCURSES_CFLAGS)
cli_hvtop_LDADD = cli/libhvremote.a wire-protocol/libhvwire.a $(NCURSES_LIBS) $(LIBSSH_LIBS) -lm

check_PROGRAMS += tests/hvtop/test-hvtop
TESTS += tests/hvtop/test-hvtop
tests_hvtop_test_hvtop_SOURCES = tests/hvtop/test-hvtop.c tests/daemon/harness.c tests/daemon/harness.h \
	cli/top-model.c cli/top-conn.c
tests_hvtop_test_hvtop_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_hvtop_test_hvtop_LDADD = cli/libhvremote.a wire-protocol/libhvwire.a $(CMOCKA_LIBS) $(LIBSSH_LIBS)
# hvtop in tmux at 80x24 (skips without tmux, and its start/stop part without /dev/kvm).
TESTS += tests/hvtop/tmux-check.sh
EXTRA_DIST += tests/hvtop/tmux-check.sh
dist_man_MANS += man/hvtop.1
EXTRA_DIST += bench/hvtop-cpu.sh
