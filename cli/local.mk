bin_PROGRAMS += cli/hvctl
noinst_LIBRARIES += cli/libhvctl.a
# Everything but main(), so the tests can drive the language directly.
cli_libhvctl_a_SOURCES = cli/cli.h cli/parse.c cli/exec.c cli/eval.c cli/bind.c cli/ops.c \
	cli/format.c cli/pipeline.c cli/outcmds.c cli/cmdlets.c cli/cmdlets-ckpt.c cli/cmdlets-pool.c cli/transport.c cli/remote.c cli/help.c cli/complete.c cli/console.c cli/watch.c
cli_libhvctl_a_CFLAGS = $(AM_CFLAGS) $(LIBSSH_CFLAGS)
# The SSH transport, for hvctl and hvtop alike.
noinst_LIBRARIES += cli/libhvremote.a
cli_libhvremote_a_SOURCES = cli/ssh.h cli/ssh.c
cli_libhvremote_a_CFLAGS = $(AM_CFLAGS) $(LIBSSH_CFLAGS)
cli_hvctl_SOURCES = cli/hvctl.c
cli_hvctl_CFLAGS = $(AM_CFLAGS) $(LIBEDIT_CFLAGS)
cli_hvctl_LDADD = cli/libhvctl.a cli/libhvremote.a wire-protocol/libhvwire.a $(LIBEDIT_LIBS) $(LIBSSH_LIBS) -lm
include cli/hvtop.mk
