# hvcore: libhvcore (partitions on KVM) and hvguest, the built-in guest.

noinst_LIBRARIES += hvcore/libhvcore.a
hvcore_libhvcore_a_SOURCES = \
	hvcore/hvcore.h hvcore/hv-priv.h \
	hvcore/partition.c hvcore/vcpu.c hvcore/kvm-stats.c hvcore/ioport.c hvcore/serial.c hvcore/pm.c \
	hvcore/state.h hvcore/statefile.c hvcore/save.c \
	hvcore/x86/cpuid.c hvcore/x86/boot.c hvcore/x86/acpi.c hvcore/x86/elf.c \
	hvcore/x86/bzimage.c \
	hvcore/vmbus-priv.h hvcore/hyperv.c hvcore/vmbus.c hvcore/vmbus-channel.c hvcore/vmbus-ring.c hvcore/vsp-ic.c \
	hvcore/vsp-heartbeat.c hvcore/vsp-shutdown.c hvcore/vsp-timesync.c hvcore/vsp-kvp.c \
	hvcore/vsp-echo.c hvcore/scsi.h hvcore/scsi.c hvcore/vsp-storvsc.c \
	hvcore/vmbus-state.h hvcore/vmbus-state.c hvcore/vmbus-save.c \
	hvcore/vsp-balloon.c

# hvguest is a freestanding x86-64 kernel, not a host program: its own flags, never
# AM_CFLAGS (sanitizers, host warnings) nor the user's CFLAGS. Code must stay inside what
# KVM's instruction emulator can run (DESIGN.md, Guests on these machines).
HVGUEST_CCOPTS = -std=gnu11 -O2 -ffreestanding -fno-builtin -nostdlib -fno-pic -fno-pie \
	-march=x86-64 -mtune=generic -mgeneral-regs-only -mno-red-zone -mcmodel=small \
	-fno-stack-protector -fcf-protection=none -fno-asynchronous-unwind-tables \
	-fno-tree-loop-distribute-patterns -Wall -Wextra -Wmissing-prototypes \
	-Wstrict-prototypes -Werror -I$(top_srcdir)
HVGUEST_LDOPTS = -nostdlib -static -no-pie -Wl,--build-id=none -Wl,-z,max-page-size=4096 \
	-Wl,-z,noexecstack -Wl,-T,$(top_srcdir)/hvcore/guest/hvguest.ld
HVGUEST_HDRS = hvcore/guest/hvguest.h hvcore/guest/lib.h hvcore/guest/vmbus.h
HVGUEST_OBJS = hvcore/guest/hvguest-entry.o hvcore/guest/hvguest-main.o \
	hvcore/guest/hvguest-acpi.o hvcore/guest/hvguest-smp.o hvcore/guest/hvguest-irq.o \
	hvcore/guest/hvguest-hv.o hvcore/guest/hvguest-vmbus.o hvcore/guest/hvguest-ic.o \
	hvcore/guest/hvguest-counter.o \
	hvcore/guest/hvguest-storage.o \
	hvcore/guest/hvguest-balloon.o
# Where the build leaves hvguest; installed as $(pkgdatadir)/hvguest (HVKIT_PKGDATADIR).
HVGUEST_BUILD = $(abs_top_builddir)/hvcore/guest/hvguest

hvguestdir = $(pkgdatadir)
hvguest_DATA = hvcore/guest/hvguest

hvcore/guest/hvguest-entry.o: hvcore/guest/entry.S $(HVGUEST_HDRS)
	$(AM_V_CC)$(MKDIR_P) hvcore/guest && \
	$(CC) $(HVGUEST_CCOPTS) -c -o $@ $(srcdir)/hvcore/guest/entry.S
hvcore/guest/hvguest-main.o: hvcore/guest/main.c $(HVGUEST_HDRS)
	$(AM_V_CC)$(MKDIR_P) hvcore/guest && \
	$(CC) $(HVGUEST_CCOPTS) -c -o $@ $(srcdir)/hvcore/guest/main.c
hvcore/guest/hvguest-acpi.o: hvcore/guest/acpi.c $(HVGUEST_HDRS)
	$(AM_V_CC)$(MKDIR_P) hvcore/guest && \
	$(CC) $(HVGUEST_CCOPTS) -c -o $@ $(srcdir)/hvcore/guest/acpi.c
hvcore/guest/hvguest-smp.o: hvcore/guest/smp.c $(HVGUEST_HDRS)
	$(AM_V_CC)$(MKDIR_P) hvcore/guest && \
	$(CC) $(HVGUEST_CCOPTS) -c -o $@ $(srcdir)/hvcore/guest/smp.c
hvcore/guest/hvguest-irq.o: hvcore/guest/irq.c $(HVGUEST_HDRS)
	$(AM_V_CC)$(MKDIR_P) hvcore/guest && \
	$(CC) $(HVGUEST_CCOPTS) -c -o $@ $(srcdir)/hvcore/guest/irq.c
hvcore/guest/hvguest-hv.o: hvcore/guest/hv.c $(HVGUEST_HDRS)
	$(AM_V_CC)$(MKDIR_P) hvcore/guest && \
	$(CC) $(HVGUEST_CCOPTS) -c -o $@ $(srcdir)/hvcore/guest/hv.c
hvcore/guest/hvguest-vmbus.o: hvcore/guest/vmbus.c $(HVGUEST_HDRS)
	$(AM_V_CC)$(MKDIR_P) hvcore/guest && \
	$(CC) $(HVGUEST_CCOPTS) -c -o $@ $(srcdir)/hvcore/guest/vmbus.c
hvcore/guest/hvguest-ic.o: hvcore/guest/ic.c $(HVGUEST_HDRS)
	$(AM_V_CC)$(MKDIR_P) hvcore/guest && \
	$(CC) $(HVGUEST_CCOPTS) -c -o $@ $(srcdir)/hvcore/guest/ic.c
hvcore/guest/hvguest-counter.o: hvcore/guest/counter.c $(HVGUEST_HDRS)
	$(AM_V_CC)$(MKDIR_P) hvcore/guest && \
	$(CC) $(HVGUEST_CCOPTS) -c -o $@ $(srcdir)/hvcore/guest/counter.c
hvcore/guest/hvguest-storage.o: hvcore/guest/storage.c $(HVGUEST_HDRS)
	$(AM_V_CC)$(MKDIR_P) hvcore/guest && \
	$(CC) $(HVGUEST_CCOPTS) -c -o $@ $(srcdir)/hvcore/guest/storage.c
hvcore/guest/hvguest-balloon.o: hvcore/guest/balloon.c $(HVGUEST_HDRS)
	$(AM_V_CC)$(MKDIR_P) hvcore/guest && \
	$(CC) $(HVGUEST_CCOPTS) -c -o $@ $(srcdir)/hvcore/guest/balloon.c
hvcore/guest/hvguest: $(HVGUEST_OBJS) hvcore/guest/hvguest.ld
	$(AM_V_CCLD)$(CC) $(HVGUEST_LDOPTS) -o $@ $(HVGUEST_OBJS)

EXTRA_DIST += hvcore/guest/entry.S hvcore/guest/main.c hvcore/guest/acpi.c \
	hvcore/guest/smp.c hvcore/guest/irq.c hvcore/guest/hv.c hvcore/guest/vmbus.c \
	hvcore/guest/ic.c hvcore/guest/storage.c \
	hvcore/guest/counter.c hvcore/guest/balloon.c $(HVGUEST_HDRS) hvcore/guest/hvguest.ld
CLEANFILES += $(HVGUEST_OBJS) hvcore/guest/hvguest

AM_TESTS_ENVIRONMENT += HVGUEST='$(HVGUEST_BUILD)'; export HVGUEST;

# A small driver to boot a partition from the command line (tests, bench).
noinst_PROGRAMS += tests/hvcore/hv-boot
tests_hvcore_hv_boot_SOURCES = tests/hvcore/hv-boot.c
tests_hvcore_hv_boot_LDADD = hvcore/libhvcore.a formats/vhdx/libvhdx.a

# The host's share of a VMBus round trip, no KVM needed (bench/vmbus-bench.sh).
noinst_PROGRAMS += tests/hvcore/vmbus-hostbench
tests_hvcore_vmbus_hostbench_SOURCES = tests/hvcore/vmbus-hostbench.c
tests_hvcore_vmbus_hostbench_LDADD = hvcore/libhvcore.a formats/vhdx/libvhdx.a

# The synthetic SCSI controller's host path against libvhdx direct, no KVM needed
# (bench/storvsc-bench.sh); its simulated guest is shared with test-storvsc.
noinst_PROGRAMS += tests/hvcore/storvsc-hostbench
tests_hvcore_storvsc_hostbench_SOURCES = tests/hvcore/storvsc-hostbench.c tests/hvcore/sim-guest.c \
	tests/hvcore/sim-guest.h
tests_hvcore_storvsc_hostbench_LDADD = hvcore/libhvcore.a formats/vhdx/libvhdx.a

check_PROGRAMS += tests/hvcore/test-hvcore
TESTS += tests/hvcore/test-hvcore
tests_hvcore_test_hvcore_SOURCES = tests/hvcore/test-hvcore.c tests/hvcore/guest-vm.c tests/hvcore/guest-vm.h
tests_hvcore_test_hvcore_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_hvcore_test_hvcore_LDADD = hvcore/libhvcore.a formats/vhdx/libvhdx.a $(CMOCKA_LIBS)

check_PROGRAMS += tests/hvcore/test-vmbus
TESTS += tests/hvcore/test-vmbus
tests_hvcore_test_vmbus_SOURCES = tests/hvcore/test-vmbus.c tests/hvcore/guest-vm.c tests/hvcore/guest-vm.h
tests_hvcore_test_vmbus_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_hvcore_test_vmbus_LDADD = hvcore/libhvcore.a formats/vhdx/libvhdx.a $(CMOCKA_LIBS)

check_PROGRAMS += tests/hvcore/test-storvsc
TESTS += tests/hvcore/test-storvsc
tests_hvcore_test_storvsc_SOURCES = tests/hvcore/test-storvsc.c tests/hvcore/guest-vm.c tests/hvcore/guest-vm.h
tests_hvcore_test_storvsc_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_hvcore_test_storvsc_LDADD = hvcore/libhvcore.a formats/vhdx/libvhdx.a $(CMOCKA_LIBS)

# The fast path and its fallbacks, on a simulated guest: no KVM needed.
check_PROGRAMS += tests/hvcore/test-storvsc-fast
TESTS += tests/hvcore/test-storvsc-fast
tests_hvcore_test_storvsc_fast_SOURCES = tests/hvcore/test-storvsc-fast.c tests/hvcore/sim-guest.c \
	tests/hvcore/sim-guest.h
tests_hvcore_test_storvsc_fast_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_hvcore_test_storvsc_fast_LDADD = hvcore/libhvcore.a formats/vhdx/libvhdx.a $(CMOCKA_LIBS)

check_PROGRAMS += tests/hvcore/test-balloon
TESTS += tests/hvcore/test-balloon
tests_hvcore_test_balloon_SOURCES = tests/hvcore/test-balloon.c tests/hvcore/guest-vm.c tests/hvcore/guest-vm.h
tests_hvcore_test_balloon_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_hvcore_test_balloon_LDADD = hvcore/libhvcore.a formats/vhdx/libvhdx.a $(CMOCKA_LIBS)

EXTRA_DIST += bench/hvguest-bench.sh hvcore/README.md hvcore/VMBUS.md

# hvguest holds no instruction KVM's emulator lacks (objdump over the built image).
TESTS += tests/hvcore/guest-insns.sh
EXTRA_DIST += tests/hvcore/guest-insns.sh

# The VMBus host's parsers of guest bytes: tests/fuzz/fuzz-vmbus-corpus runs the corpus in
# `make check`; `make fuzz` builds tests/fuzz/fuzz-vmbus with libFuzzer. Seeds come from
# tests/fuzz/vmbus-corpus.py.
check_PROGRAMS += tests/fuzz/fuzz-vmbus-corpus
TESTS += tests/fuzz/fuzz-vmbus-corpus
tests_fuzz_fuzz_vmbus_corpus_SOURCES = tests/fuzz/fuzz-vmbus.c tests/fuzz/standalone.c
tests_fuzz_fuzz_vmbus_corpus_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_CORPUS='"vmbus/corpus"'
tests_fuzz_fuzz_vmbus_corpus_LDADD = hvcore/libhvcore.a formats/vhdx/libvhdx.a
EXTRA_DIST += tests/fuzz/vmbus-corpus.py

FUZZ_TARGETS += tests/fuzz/fuzz-vmbus
CLEANFILES += tests/fuzz/fuzz-vmbus
tests/fuzz/fuzz-vmbus: $(srcdir)/tests/fuzz/fuzz-vmbus.c $(hvcore_libhvcore_a_SOURCES:%=$(srcdir)/%) \
		$(formats_vhdx_libvhdx_a_SOURCES:%=$(srcdir)/%)
	$(AM_V_CCLD)$(CLANG) $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^) -lpthread

# Partition save and restore (hvcore/save.c) on a real /dev/kvm.
check_PROGRAMS += tests/hvcore/test-save
TESTS += tests/hvcore/test-save
tests_hvcore_test_save_SOURCES = tests/hvcore/test-save.c
tests_hvcore_test_save_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_hvcore_test_save_LDADD = hvcore/libhvcore.a formats/vhdx/libvhdx.a $(CMOCKA_LIBS)
EXTRA_DIST += hvcore/STATEFILE.md

# The state-file parser's fuzz target and its seed corpus (tests/local.mk explains the pair).
check_PROGRAMS += tests/fuzz/fuzz-statefile-corpus
TESTS += tests/fuzz/fuzz-statefile-corpus
tests_fuzz_fuzz_statefile_corpus_SOURCES = tests/fuzz/fuzz-statefile.c tests/fuzz/standalone.c
tests_fuzz_fuzz_statefile_corpus_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_CORPUS='"hvcore/statefile-corpus"'
tests_fuzz_fuzz_statefile_corpus_LDADD = hvcore/libhvcore.a formats/vhdx/libvhdx.a
FUZZ_TARGETS += tests/fuzz/fuzz-statefile
CLEANFILES += tests/fuzz/fuzz-statefile
tests/fuzz/fuzz-statefile: $(srcdir)/tests/fuzz/fuzz-statefile.c $(srcdir)/hvcore/statefile.c $(srcdir)/hvcore/vmbus-state.c
	$(AM_V_CCLD)$(CLANG) $(FUZZ_CFLAGS) -o $@ $^
