sbin_PROGRAMS += daemon/hvd
pkglibexec_PROGRAMS += daemon/hv-worker
daemon_hv_worker_SOURCES = daemon/worker.c
daemon_hv_worker_LDADD = hvcore/libhvcore.a formats/vhdx/libvhdx.a wire-protocol/libhvwire.a
noinst_LIBRARIES += daemon/libhvd.a
# Everything but main(), so the tests can drive the store and the XML directly.
daemon_libhvd_a_SOURCES = daemon/hvd.h daemon/vm.c daemon/store.c daemon/server.c \
	daemon/procs.h daemon/procs.c daemon/procs-run.c daemon/procs-vmbus.c daemon/memory.c daemon/vhd.c daemon/filter.c daemon/runtime.c daemon/cgroup.c daemon/audit.c daemon/log.c \
	daemon/ckpt.h daemon/checkpoint.c daemon/ckpt-disks.c daemon/drives.c \
	daemon/pool.h daemon/pool.c daemon/pool-xml.c
nodist_daemon_libhvd_a_SOURCES = daemon/vm-schema.c
daemon_libhvd_a_CFLAGS = $(AM_CFLAGS) $(LIBXML2_CFLAGS)
daemon_hvd_SOURCES = daemon/hvd.c
daemon_hvd_CFLAGS = $(AM_CFLAGS) $(LIBXML2_CFLAGS)
daemon_hvd_LDADD = daemon/libhvd.a formats/vhdx/libvhdx.a wire-protocol/libhvwire.a $(LIBXML2_LIBS)

dist_pkgdata_DATA += daemon/vm-schema.rng
BUILT_SOURCES += daemon/vm-schema.c
CLEANFILES += daemon/vm-schema.c

# The schema is compiled into hvd so that validation never depends on where it is installed.
daemon/vm-schema.c: daemon/vm-schema.rng
	$(AM_V_GEN)$(MKDIR_P) daemon && { \
	  echo '/* Generated from vm-schema.rng by the build; do not edit. */'; \
	  echo 'extern const char hvd_vm_schema_text[];'; \
	  echo 'const char hvd_vm_schema_text[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $(srcdir)/daemon/vm-schema.rng; \
	  echo ';'; } > $@-t && mv $@-t $@
