# formats/vhdx: libvhdx, hv-img, their tests, fuzz target and man page
noinst_LIBRARIES += formats/vhdx/libvhdx.a
formats_vhdx_libvhdx_a_SOURCES = \
	formats/vhdx/vhdx.h formats/vhdx/vhdx-internal.h \
	formats/vhdx/util.c formats/vhdx/ident.c formats/vhdx/header.c \
	formats/vhdx/region.c formats/vhdx/metadata.c formats/vhdx/locator.c \
	formats/vhdx/bat.c formats/vhdx/log.c formats/vhdx/io.c formats/vhdx/io-nowait.c formats/vhdx/open.c \
	formats/vhdx/create.c formats/vhdx/check.c \
	formats/vhdx/resize.c formats/vhdx/merge.c formats/vhdx/compact.c

bin_PROGRAMS += cli/hv-img
cli_hv_img_SOURCES = cli/hv-img.h cli/hv-img.c cli/hv-img-convert.c cli/hv-img-mapcopy.c \
	cli/hv-img-ops.c
cli_hv_img_LDADD = formats/vhdx/libvhdx.a

noinst_LIBRARIES += tests/vhdx/libvhdxtest.a
tests_vhdx_libvhdxtest_a_SOURCES = tests/vhdx/helpers.h tests/vhdx/helpers.c

check_PROGRAMS += tests/vhdx/test-vhdx-testdata
tests_vhdx_test_vhdx_testdata_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_vhdx_test_vhdx_testdata_LDADD = tests/vhdx/libvhdxtest.a formats/vhdx/libvhdx.a $(CMOCKA_LIBS)
TESTS += tests/vhdx/test-vhdx-testdata

check_PROGRAMS += tests/vhdx/test-vhdx
tests_vhdx_test_vhdx_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_vhdx_test_vhdx_LDADD = tests/vhdx/libvhdxtest.a formats/vhdx/libvhdx.a $(CMOCKA_LIBS)
TESTS += tests/vhdx/test-vhdx

check_PROGRAMS += tests/vhdx/test-vhdx-qemu
tests_vhdx_test_vhdx_qemu_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_vhdx_test_vhdx_qemu_LDADD = tests/vhdx/libvhdxtest.a formats/vhdx/libvhdx.a $(CMOCKA_LIBS)
TESTS += tests/vhdx/test-vhdx-qemu

# fuzzing: tests/fuzz/fuzz-vhdx-corpus runs the corpus in `make check`; `make fuzz` builds
# tests/fuzz/fuzz-vhdx with libFuzzer.  Corpus inputs are made by tests/vhdx/vhdx2corpus.py.
check_PROGRAMS += tests/fuzz/fuzz-vhdx-corpus
TESTS += tests/fuzz/fuzz-vhdx-corpus
tests_fuzz_fuzz_vhdx_corpus_SOURCES = tests/fuzz/fuzz-vhdx.c tests/fuzz/standalone.c
tests_fuzz_fuzz_vhdx_corpus_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_CORPUS='"vhdx/corpus"'
tests_fuzz_fuzz_vhdx_corpus_LDADD = formats/vhdx/libvhdx.a
EXTRA_DIST += tests/vhdx/vhdx2corpus.py formats/vhdx/README.md

FUZZ_TARGETS += tests/fuzz/fuzz-vhdx
CLEANFILES += tests/fuzz/fuzz-vhdx
tests/fuzz/fuzz-vhdx: $(srcdir)/tests/fuzz/fuzz-vhdx.c $(formats_vhdx_libvhdx_a_SOURCES:%=$(srcdir)/%)
	$(AM_V_CCLD)$(CLANG) $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^)

check_PROGRAMS += tests/vhdx/test-vhdx-corrupt
tests_vhdx_test_vhdx_corrupt_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_vhdx_test_vhdx_corrupt_LDADD = tests/vhdx/libvhdxtest.a formats/vhdx/libvhdx.a $(CMOCKA_LIBS)
TESTS += tests/vhdx/test-vhdx-corrupt

check_PROGRAMS += tests/vhdx/test-vhdx-crash
tests_vhdx_test_vhdx_crash_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_vhdx_test_vhdx_crash_LDADD = tests/vhdx/libvhdxtest.a formats/vhdx/libvhdx.a $(CMOCKA_LIBS)
TESTS += tests/vhdx/test-vhdx-crash

check_PROGRAMS += tests/vhdx/test-vhdx-ops
tests_vhdx_test_vhdx_ops_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_vhdx_test_vhdx_ops_LDADD = tests/vhdx/libvhdxtest.a formats/vhdx/libvhdx.a $(CMOCKA_LIBS)
TESTS += tests/vhdx/test-vhdx-ops

dist_man_MANS += man/hv-img.1

TESTS += tests/vhdx/test-hv-img.sh
EXTRA_DIST += tests/vhdx/test-hv-img.sh

# bench/vhdx-bench.sh runs hv-img and bench/vhdx-io side by side with qemu-img/qemu-io
noinst_PROGRAMS += bench/vhdx-io
bench_vhdx_io_LDADD = formats/vhdx/libvhdx.a
EXTRA_DIST += bench/vhdx-bench.sh

TESTS += tests/vhdx/test-vhdx-libvhdi.sh
EXTRA_DIST += tests/vhdx/test-vhdx-libvhdi.sh
