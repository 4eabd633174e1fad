/* hvguest: constants shared by entry.S and the C code. */
#ifndef HVCORE_GUEST_HVGUEST_H
#define HVCORE_GUEST_HVGUEST_H

#define HVGUEST_MAX_CPUS 64
#define HVGUEST_AP_STACK_SHIFT 12
#define HVGUEST_TRAMP_GPA 0x8000
#define HVGUEST_SIPI_VECTOR (HVGUEST_TRAMP_GPA >> 12)

#endif
