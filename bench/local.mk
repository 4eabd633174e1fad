EXTRA_DIST += bench/vmbus-bench.sh bench/storvsc-bench.sh bench/lib.sh bench/get-vm-1000.sh bench/pipeline-10000.sh bench/start-vm.sh bench/remote.sh \
	bench/checkpoint-bench.sh bench/balloon-bench.sh bench/pool-bench.sh

# One timed save and restore with libhvcore, for checkpoint-bench.sh.
noinst_PROGRAMS += bench/ckpt-core
bench_ckpt_core_SOURCES = bench/ckpt-core.c
bench_ckpt_core_LDADD = hvcore/libhvcore.a formats/vhdx/libvhdx.a

# Dynamic memory: reclaim and give back 512 MiB, for balloon-bench.sh.
noinst_PROGRAMS += bench/balloon-core
bench_balloon_core_SOURCES = bench/balloon-core.c
bench_balloon_core_LDADD = hvcore/libhvcore.a formats/vhdx/libvhdx.a

# Benchmarks print medians and ratios; they are not part of `make check` (timings do not
# belong in tests on a noisy machine).
bench: all
	$(SHELL) $(srcdir)/bench/get-vm-1000.sh $(top_builddir)
	$(SHELL) $(srcdir)/bench/pipeline-10000.sh $(top_builddir)
	bash $(srcdir)/bench/start-vm.sh $(top_builddir)
	bash $(srcdir)/bench/remote.sh $(top_builddir)
	bash $(srcdir)/bench/vmbus-bench.sh $(top_builddir)
	bash $(srcdir)/bench/checkpoint-bench.sh $(top_builddir)
	bash $(srcdir)/bench/storvsc-bench.sh $(top_builddir)
	bash $(srcdir)/bench/balloon-bench.sh $(top_builddir)
	bash $(srcdir)/bench/pool-bench.sh $(top_builddir)
.PHONY: bench
