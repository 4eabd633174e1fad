/* libhvcore internals: the SCSI command set of a VHDX-backed disk (scsi.c), as the
 * synthetic SCSI controller (vsp-storvsc.c) serves it. Not installed. */
#ifndef HVCORE_SCSI_H
#define HVCORE_SCSI_H

#include <stdbool.h>
#include <stdint.h>

#include "formats/vhdx/vhdx.h"

#define HV_SCSI_MAX_XFER (512u * 1024) /* bytes per command: QUERY_PROPERTIES says so */
#define HV_SCSI_SENSE 18               /* fixed-format sense data */

/* SAM status codes */
#define HV_SAM_GOOD 0x00
#define HV_SAM_CHECK_CONDITION 0x02
#define HV_SAM_BUSY 0x08

struct hv_scsi_disk {
	struct vhdx *v;
	char path[256];
	unsigned location;
	bool read_only;
	uint64_t size;              /* bytes */
	uint32_t lbs, pbs, block_size;
	struct vhdx_guid id;        /* VHDX Virtual Disk ID: serial number and page 0x83 */
};

enum hv_scsi_kind { HV_SCSI_OTHER, HV_SCSI_READ, HV_SCSI_WRITE, HV_SCSI_FLUSH, HV_SCSI_UNMAP };

/* One command. The caller fills cdb and buf/len (the SRB's data buffer: data-out bytes
 * already gathered into it for a write); exec fills the rest. */
struct hv_scsi_cmd {
	const uint8_t *cdb;
	unsigned cdb_len;
	uint8_t *buf;
	uint32_t len;
	uint8_t status;                /* HV_SAM_* */
	uint8_t sense[HV_SCSI_SENSE];  /* valid with CHECK CONDITION */
	uint32_t xfer;                 /* data-in bytes put in buf, or data-out bytes used */
	enum hv_scsi_kind kind;
	uint64_t bytes;                /* read or written on the medium (statistics) */
};

/* Does the command carry data from the initiator (write, unmap list)? Then the caller
 * gathers the guest's data into buf before hv_scsi_exec. */
bool hv_scsi_data_out(const uint8_t *cdb, unsigned cdb_len);
void hv_scsi_exec(struct hv_scsi_disk *d, struct hv_scsi_cmd *c);
/* Is the CDB a READ or WRITE (10, 16) that hv_scsi_exec would simply carry out: in range,
 * not empty, within buf_len, no FUA, a writable disk? Then *off and *bytes are its place on
 * the disk, and a caller that moves the data itself (the controller's fast path) completes it
 * as GOOD with bytes moved. Anything else (errors included) goes to hv_scsi_exec. */
bool hv_scsi_rw_plain(const struct hv_scsi_disk *d, const uint8_t *cdb, unsigned cdb_len,
		      uint32_t buf_len, bool *write, uint64_t *off, uint32_t *bytes);
/* REPORT LUNS for the LUNs present (any LUN may be asked); INQUIRY and the rest for a LUN
 * with no disk (peripheral qualifier 3; LOGICAL UNIT NOT SUPPORTED). */
void hv_scsi_report_luns(const unsigned *luns, unsigned n, struct hv_scsi_cmd *c);
void hv_scsi_no_lun(struct hv_scsi_cmd *c);

#endif
