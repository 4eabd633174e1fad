/* Pools of partitions over one golden disk (daemon/pool.c, pool-xml.c). */
#ifndef HVKIT_HVD_POOL_H
#define HVKIT_HVD_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A pool's definition, STATE/pools/<Id>/pool.xml. Its members are the VMs whose vm.xml
 * names its id; each has one differencing disk, STATE/pools/<Id>/<VMId>.vhdx, over a golden
 * image (the pool's parent when it was made or last reset). */
struct hvd_pool {
	char id[37];
	char *name;
	char *parent;          /* the golden image new and reset members get, as the user named it */
	char *parent_link;     /* the pool's hard link to it, which members name (NULL: none) */
	char *prefix;          /* members are named prefix + number */
	uint64_t mem_startup;
	uint32_t proc_count;
	bool rollback_on_stop; /* a member's disk is thrown away whenever it stops */
	int64_t created_ns;
	uint32_t next_index;   /* the number the next new member gets */
};

/* The highest next_index: a pool whose members have used every number below it makes no
 * more (the number never wraps to 0). */
#define HVD_POOL_INDEX_MAX (UINT32_MAX - 1)

void hvd_pool_free(struct hvd_pool *p);
/* Parses pool.xml (every value checked); on error err names what was wrong. */
int hvd_pool_from_xml(const char *buf, size_t len, struct hvd_pool **out, char *err, size_t errlen);
int hvd_pool_to_xml(const struct hvd_pool *p, char **buf, size_t *len);

#endif
