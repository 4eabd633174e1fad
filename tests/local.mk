# Shared by the tests of every module.
EXTRA_DIST += tests/fuzz/standalone.c tests/data

# A fuzz target FOO (tests/fuzz/FOO.c) gets two programs: tests/fuzz/FOO-corpus, built with
# the normal compiler and tests/fuzz/standalone.c, runs its corpus in `make check`;
# tests/fuzz/FOO, built by `make fuzz` with clang's libFuzzer, explores.
FUZZ_CFLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -I$(top_srcdir) -I$(top_builddir)
