/* hv-boot: boots one partition from the command line, console on stdout.
 *   hv-boot [-c CPUS] [-m MIB] [-a CMDLINE] [-i INITRD] [-t SECONDS] [-d C:L:VHDX]... [-r] [-E] [-S] [-V] KERNEL
 * -E offers the VMBus loopback channel (bench), -S turns VMBus statistics off, -V leaves
 * the Hyper-V surface and VMBus out (a plain KVM guest), -d attaches a VHDX at SCSI
 * controller C, location L (up to 16; with -r the disks' statistics are printed too).
 * Prints the stop reason on stderr; with -r also the per-vCPU statistics and the time from
 * start to the first console line; -t turns the partition off after SECONDS. Exit 0 on
 * power-off, 1 otherwise, 2 on usage. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hvcore/hvcore.h"

struct console {
	struct timespec t0;
	double created_ms, loaded_ms;
	double first_line_ms;
};

static double since_ms(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

static void on_console(void *opaque, const void *buf, size_t len)
{
	struct console *c = opaque;

	if (c->first_line_ms < 0 && memchr(buf, '\n', len))
		c->first_line_ms = since_ms(&c->t0);
	fwrite(buf, 1, len, stdout);
	fflush(stdout);
}

static void report(struct hv_partition *p, const struct hv_stop_info *info,
		   const struct console *c, int verbose)
{
	struct hv_vcpu_stats s;
	unsigned i;

	fprintf(stderr, "hv-boot: stopped: %s", hv_stop_reason_name(info->reason));
	if (info->vcpu >= 0)
		fprintf(stderr, " (vcpu %d, rip 0x%llx, exit %u)", info->vcpu,
			(unsigned long long)info->rip, info->exit_reason);
	if (info->reason == HV_STOP_INTERNAL_ERROR) {
		fprintf(stderr, " suberror %u", info->suberror);
		for (i = 0; i < info->insn_len; i++)
			fprintf(stderr, "%s%02x", i ? " " : " insn ", info->insn[i]);
	}
	if (info->reason == HV_STOP_HOST_ERROR)
		fprintf(stderr, ": %s", strerror(-info->error));
	fprintf(stderr, "\n");
	if (!verbose)
		return;
	fprintf(stderr, "hv-boot: partition created after %.3f ms, kernel loaded after %.3f ms, "
		"first console line after %.3f ms\n", c->created_ms, c->loaded_ms, c->first_line_ms);
	for (i = 0; i < hv_partition_vcpu_count(p); i++) {
		if (hv_partition_vcpu_stats(p, i, &s) == 0)
			fprintf(stderr,
				"hv-boot: vcpu %u: exits %llu (io %llu mmio %llu intr %llu other %llu) run %.3f ms cpu %.3f ms; kvm: exits %llu halts %llu emulated %llu\n",
				i, (unsigned long long)s.exits, (unsigned long long)s.io_exits,
				(unsigned long long)s.mmio_exits, (unsigned long long)s.intr_exits,
				(unsigned long long)s.other_exits, (double)s.run_ns / 1e6,
				(double)s.cpu_ns / 1e6, (unsigned long long)s.kvm_exits,
				(unsigned long long)s.kvm_halt_exits,
				(unsigned long long)s.kvm_insn_emulation);
	}
}

struct turnoff {
	struct hv_partition *p;
	unsigned seconds;
};

static void *turnoff_main(void *arg)
{
	struct turnoff *t = arg;

	sleep(t->seconds);
	(void)hv_partition_stop(t->p);
	return NULL;
}

int main(int argc, char **argv)
{
	struct turnoff turnoff = { .seconds = 0 };
	pthread_t timer;
	struct hv_partition_config cfg = { .vcpus = 1, .mem_bytes = 256ULL << 20, .console_fd = -1 };
	struct console con = { .first_line_ms = -1 };
	struct hv_stop_info info;
	struct hv_partition *p = NULL;
	const char *cmdline = NULL, *initrd = NULL;
	struct hv_disk_config disks[16];
	char why[512] = "";
	int opt, r, verbose = 0, n;

	while ((opt = getopt(argc, argv, "c:m:a:i:t:d:rESV")) != -1) {
		switch (opt) {
		case 'd':
			if (cfg.ndisks == 16 ||
			    sscanf(optarg, "%u:%u:%n", &disks[cfg.ndisks].controller,
				   &disks[cfg.ndisks].location, &n) != 2 || !optarg[n]) {
				fprintf(stderr, "hv-boot: -d wants CONTROLLER:LOCATION:PATH\n");
				return 2;
			}
			disks[cfg.ndisks].path = optarg + n;
			disks[cfg.ndisks++].read_only = 0;
			break;
		case 'c': cfg.vcpus = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'm': cfg.mem_bytes = strtoull(optarg, NULL, 0) << 20; break;
		case 'a': cmdline = optarg; break;
		case 'i': initrd = optarg; break;
		case 'r': verbose = 1; break;
		case 'E': cfg.vmbus_echo = 1; break;
		case 'S': cfg.vmbus_no_stats = 1; break;
		case 'V': cfg.vmbus_off = 1; break;
		case 't': turnoff.seconds = (unsigned)strtoul(optarg, NULL, 0); break;
		default: return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: hv-boot [-c CPUS] [-m MIB] [-a CMDLINE] [-i INITRD] [-t SECONDS] [-d C:L:VHDX] [-r] [-E] [-S] [-V] KERNEL\n");
		return 2;
	}
	cfg.console = on_console;
	cfg.console_opaque = &con;
	cfg.disks = disks;
	cfg.why = why;
	cfg.why_len = sizeof(why);
	clock_gettime(CLOCK_MONOTONIC, &con.t0);
	r = hv_partition_new(&cfg, &p);
	if (r) {
		fprintf(stderr, "hv-boot: cannot create partition: %s%s%s\n", strerror(-r),
			why[0] ? ": " : "", why);
		return 1;
	}
	con.created_ms = since_ms(&con.t0);
	r = hv_partition_load_kernel_file(p, argv[optind], initrd, cmdline);
	con.loaded_ms = since_ms(&con.t0);
	if (r) {
		fprintf(stderr, "hv-boot: cannot load %s: %s\n", argv[optind], strerror(-r));
		hv_partition_free(p);
		return 1;
	}
	turnoff.p = p;
	if (turnoff.seconds && pthread_create(&timer, NULL, turnoff_main, &turnoff) == 0)
		pthread_detach(timer);
	r = hv_partition_run(p, &info);
	if (r) {
		fprintf(stderr, "hv-boot: cannot run: %s\n", strerror(-r));
		hv_partition_free(p);
		return 1;
	}
	report(p, &info, &con, verbose);
	if (verbose && cfg.ndisks) {
		struct hv_disk_stats ds[16];
		int i, nd = hv_partition_disk_stats(p, ds, 16);

		for (i = 0; i < nd && i < 16; i++)
			fprintf(stderr, "disk %u:%u reads=%llu writes=%llu read_bytes=%llu "
				"write_bytes=%llu flushes=%llu unmaps=%llu errors=%llu qd=%u "
				"lat_mean_ns=%llu lat_p99_ns=%llu inline=%llu\n", ds[i].controller, ds[i].location,
				(unsigned long long)ds[i].read_ops, (unsigned long long)ds[i].write_ops,
				(unsigned long long)ds[i].read_bytes,
				(unsigned long long)ds[i].write_bytes,
				(unsigned long long)ds[i].flushes, (unsigned long long)ds[i].unmaps,
				(unsigned long long)ds[i].errors, ds[i].queue_depth,
				(unsigned long long)ds[i].lat_mean_ns,
				(unsigned long long)ds[i].lat_p99_ns,
				(unsigned long long)ds[i].inline_ops);
	}
	hv_partition_free(p);
	return info.reason == HV_STOP_POWEROFF ? 0 : 1;
}
