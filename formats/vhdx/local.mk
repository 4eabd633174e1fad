# formats/vhdx: libvhdx, hv-img, their tests, fuzz target and man page
noinst_LIBRARIES += formats/vhdx/libvhdx.a
formats_vhdx_libvhdx_a_SOURCES = \
	formats/vhdx/vhdx.h formats/vhdx/vhdx-internal.h \
	formats/vhdx/util.c formats/vhdx/ident.c formats/vhdx/header.c \
	formats/vhdx/region.c formats/vhdx/metadata.c formats/vhdx/locator.c \
	formats/vhdx/bat.c formats/vhdx/log.c formats/vhdx/io.c formats/vhdx/open.c \
	formats/vhdx/create.c

bin_PROGRAMS += cli/hv-img
cli_hv_img_SOURCES = cli/hv-img.h cli/hv-img.c cli/hv-img-convert.c
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
