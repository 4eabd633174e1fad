#!/usr/bin/env python3
"""Writes the seed corpus of tests/fuzz/fuzz-vmbus.c (a script of guest actions) into
tests/data/vmbus/corpus: a whole good session (contact, offers, GPADL, open, IC answers
through the ring) and a few hostile ones. Run from the source tree's top."""
import os
import struct

OUT = "tests/data/vmbus/corpus"
RING = 0x10000      # the channel's six pages: 0x10000 guest->host header, 0x13000 host->guest
RING_SIZE = 2 * 4096


def rec(op, data):
    return bytes([op]) + struct.pack("<H", len(data)) + data


def post(msg, conn=4):
    return rec(0 if conn == 4 else 1, msg)


def take():
    return rec(4, b"")


def contact(version=0x50003):
    return post(struct.pack("<IIII", 14, 0, version, 0) + bytes([2]) + bytes(23))


def gpadl(relid, handle, pfns):
    body = struct.pack("<IIIIHHII", 8, 0, relid, handle, 8 + 8 * len(pfns), 1,
                       len(pfns) * 4096, 0)
    return post(body + b"".join(struct.pack("<Q", p) for p in pfns))


def open_channel(relid, handle, down):
    return post(struct.pack("<IIIIIII", 5, 0, relid, relid, handle, 0, down) + bytes(120))


def ring_packet(w, data, trans=1, ptype=6):
    plen = 16 + ((len(data) + 7) & ~7)
    pkt = struct.pack("<HHHHQ", ptype, 2, plen // 8, 0, trans) + data
    pkt += bytes(plen - len(pkt)) + struct.pack("<Q", w << 32)
    out = rec(2, struct.pack("<I", RING + 4096 + w) + pkt)
    out += rec(2, struct.pack("<I", RING) + struct.pack("<I", w + len(pkt)))
    return out


def ic(msgtype, body, flags=5):
    hdr = struct.pack("<II", 0, 20 + len(body))
    hdr += struct.pack("<HHHHHHIBBH", 3, 0, msgtype, 3, 0, len(body), 0, 1, flags, 0)
    return hdr + body


def session():
    s = contact() + take() + post(struct.pack("<II", 3, 0))
    s += take() * 6
    s += gpadl(1, 0xe1e10, [RING // 4096 + i for i in range(6)]) + take()
    s += open_channel(1, 0xe1e10, 3) + take()
    nego = ic(0, struct.pack("<HHI", 1, 1, 0) + struct.pack("<HHHH", 3, 0, 3, 0))
    s += ring_packet(0, nego)
    s += rec(3, struct.pack("<I", 0x10001))
    s += rec(7, b"\x01") + rec(9, b"") + post(struct.pack("<IIII", 22, 0, 1, 0)) + take()
    hb = ic(1, struct.pack("<Q", 2) + bytes(32))
    s += ring_packet(16 + 48 + 8, hb, 2) + rec(3, struct.pack("<I", 0x10001))
    s += rec(6, b"\x00\x00") + take() + post(struct.pack("<III", 7, 0, 1))
    s += post(struct.pack("<IIII", 11, 0, 1, 0xe1e10)) + take()
    s += post(struct.pack("<III", 13, 0, 1)) + rec(6, b"\x00\x01") + take()
    s += rec(8, b"\x00") + rec(9, b"") + post(struct.pack("<II", 16, 0)) + take()
    return s


SCSI_RELID = 7     # after heartbeat, shutdown, time sync, KVP, the loopback and the balloon
DATA = 0x20000     # a guest buffer for SRB data


def vstor(op, payload=b"", flags=1):
    return (struct.pack("<III", op, flags, 0) + payload).ljust(64, b"\0")


def srb(lun, cdb, xfer, data_in=1, cdb_len=None):
    return vstor(3, struct.pack("<HBBBBBBBBBBI", 52, 0, 0, 0, 0, 0, lun,
                                len(cdb) if cdb_len is None else cdb_len, 20, data_in, 0,
                                xfer) + cdb.ljust(20, b"\0") + bytes(16))


def gpa_packet(data, length, offset=0, pfns=None, trans=1):
    pfns = pfns if pfns is not None else [DATA // 4096 + i
                                          for i in range((offset + length + 4095) // 4096)]
    rng = struct.pack("<IIII", 0, 1, length, offset) + b"".join(struct.pack("<Q", p) for p in pfns)
    hdr = 16 + len(rng)
    plen = hdr + ((len(data) + 7) & ~7)
    return struct.pack("<HHHHQ", 9, hdr // 8, plen // 8, 1, trans) + rng + data.ljust(plen - hdr, b"\0")


def inband(data, trans=1):
    plen = 16 + ((len(data) + 7) & ~7)
    return struct.pack("<HHHHQ", 6, 2, plen // 8, 1, trans) + data.ljust(plen - 16, b"\0")


def ring_write(pkts):
    """Packets one after the other in the guest-to-host ring, then the write index and a
    signal on the SCSI channel."""
    out, w = b"", 0
    for p in pkts:
        p += struct.pack("<Q", w << 32)
        out += rec(2, struct.pack("<I", RING + 4096 + w) + p)
        w += len(p)
    out += rec(2, struct.pack("<I", RING) + struct.pack("<I", w))
    return out + rec(3, struct.pack("<I", 0x10000 + SCSI_RELID))


def storvsc_open():
    s = contact() + take() + post(struct.pack("<II", 3, 0)) + take() * 8
    s += gpadl(SCSI_RELID, 0xe1e20, [RING // 4096 + i for i in range(6)]) + take()
    s += open_channel(SCSI_RELID, 0xe1e20, 3) + take()
    return s


def storvsc_session():
    inquiry = bytes([0x12, 0, 0, 0, 36, 0])
    vpd83 = bytes([0x12, 1, 0x83, 0, 96, 0])
    cap16 = bytes([0x9e, 0x10]) + bytes(11) + bytes([32, 0, 0])
    luns = bytes([0xa0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0])
    write10 = bytes([0x2a, 0, 0, 0, 0, 8, 0, 0, 1, 0])
    read16 = bytes([0x88, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0])
    sync = bytes([0x35]) + bytes(9)
    unmap = bytes([0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0])
    mode = bytes([0x1a, 0, 0x3f, 0, 192, 0])
    pkts = [inband(vstor(7)), inband(vstor(9, struct.pack("<HH", 0x0602, 0))),
            inband(vstor(10)), inband(vstor(8)),
            gpa_packet(srb(0, luns, 512), 512, trans=2),
            gpa_packet(srb(0, inquiry, 36), 36, trans=3),
            gpa_packet(srb(1, vpd83, 96), 96, offset=4000, trans=4),
            gpa_packet(srb(0, cap16, 32), 32, trans=5),
            gpa_packet(srb(0, mode, 192), 192, trans=6),
            gpa_packet(srb(0, write10, 512, 0), 512, trans=7),
            gpa_packet(srb(0, read16, 512), 512, trans=8),
            inband(srb(0, sync, 0, 2), trans=9)]
    s = storvsc_open()
    s += rec(2, struct.pack("<I", DATA) + struct.pack(">HHI", 22, 16, 0) +
             struct.pack(">QII", 8, 8, 0))
    s += ring_write(pkts)
    s += rec(2, struct.pack("<I", RING + 4096) + bytes(8))  # the ring rewritten after reading
    unmap_pkt = gpa_packet(srb(0, unmap, 24, 0), 24, trans=10)
    s += rec(9, b"") + take()
    return s + rec(2, struct.pack("<II", RING, 0)) + rec(2, struct.pack("<II", RING + 4, 0)) + \
        ring_write([unmap_pkt]) + rec(9, b"\x01")


def storvsc_hostile():
    write16 = bytes([0x8a, 0, 0, 0, 0, 0, 0, 0, 0x1f, 0xff, 0, 0, 0, 2, 0, 0])
    pkts = [inband(vstor(7)), inband(vstor(9, struct.pack("<HH", 0x0400, 0))),
            inband(vstor(9, struct.pack("<HH", 0x0501, 0))), inband(vstor(99)),
            inband(vstor(13)), inband(vstor(3)[:20]),
            gpa_packet(srb(0, write16, 1024, 0), 1024, trans=2),
            gpa_packet(srb(0, bytes([0xff] * 16), 512), 512, pfns=[0xfffffffff], trans=3),
            gpa_packet(srb(0, bytes([0x28] + [0] * 9), 8192), 512, trans=4),
            gpa_packet(srb(5, bytes([0x28] + [0] * 9), 512), 512, trans=5),
            gpa_packet(srb(0, bytes([0x12, 0, 0, 0, 36, 0]), 36, cdb_len=40), 36, trans=6),
            gpa_packet(srb(0, bytes([0x28]), 512), 0x100000, offset=4095, trans=7),
            inband(vstor(4)), inband(vstor(6))]
    return storvsc_open() + ring_write(pkts) + rec(9, b"\x02")


def hostile():
    s = contact() + take() + post(struct.pack("<II", 3, 0)) + take() * 6
    s += post(struct.pack("<II", 99, 0)) + post(struct.pack("<III", 5, 0, 1))
    s += gpadl(1, 7, [0xfffff000 + i for i in range(6)]) + take()
    s += rec(2, struct.pack("<II", RING, 0x7ffffff8))
    s += gpadl(1, 8, [RING // 4096 + i for i in range(6)]) + take()
    s += open_channel(1, 8, 3) + take() + open_channel(1, 8, 100) + take()
    s += rec(2, struct.pack("<II", RING, 0))
    s += open_channel(1, 8, 3) + take()
    s += rec(2, struct.pack("<I", RING + 4096) + b"\xee" * 16)
    s += rec(2, struct.pack("<II", RING, 24)) + rec(3, struct.pack("<I", 0x10001))
    s += rec(3, struct.pack("<I", 0xabcdef)) + rec(9, b"")
    return s


def dm(mtype, body=b""):
    return struct.pack("<HHI", mtype, 8 + len(body), 1) + body


def balloon_session(hostile_ranges=False):
    """Relid 6 is the Dynamic Memory channel: version, capabilities, a status report, a
    target of 16 MiB (the host asks for pages), an answer with ranges, a target of 32 MiB
    (the host gives them back) and the unballoon answer."""
    s = contact() + take() + post(struct.pack("<II", 3, 0)) + take() * 7
    s += gpadl(6, 0xe1e11, [RING // 4096 + i for i in range(6)]) + take()
    s += open_channel(6, 0xe1e11, 3) + take()
    w = 0
    pkts = [dm(1, struct.pack("<II", 0x20000, 0)),
            dm(3, struct.pack("<QQQ", 1, 0, 2**64 - 1)),
            dm(5, struct.pack("<QQQQII", 1000, 3000, 0, 0, 0, 0))]
    for pk in pkts:
        s += ring_packet(w, pk)
        w += 16 + ((len(pk) + 7) & ~7) + 8
    s += rec(3, struct.pack("<I", 0x10006))
    s += rec(10, struct.pack("<Q", 16 << 20))
    if hostile_ranges:
        ranges = [0xfffff0000 | 1 << 40, (0x1000 | 4 << 40), (0x1002 | 4 << 40)]
        resp = dm(7, struct.pack("<II", 0, 1 | len(ranges) << 1) +
                  b"".join(struct.pack("<Q", r) for r in ranges))
        resp2 = dm(7, struct.pack("<II", 0, 1 | 5000 << 1))
        for pk in (resp, resp2, dm(9), dm(77, bytes(8))):
            s += ring_packet(w, pk)
            w += 16 + ((len(pk) + 7) & ~7) + 8
    ranges = [0x1000 | 256 << 40, 0x1800 | 256 << 40]
    resp = dm(7, struct.pack("<II", 0, len(ranges) << 1) +
              b"".join(struct.pack("<Q", r) for r in ranges))
    s += ring_packet(w, resp)
    w += 16 + ((len(resp) + 7) & ~7) + 8
    s += rec(3, struct.pack("<I", 0x10006)) + rec(10, b"")
    s += rec(10, struct.pack("<Q", 32 << 20)) + rec(7, b"\x01")
    s += ring_packet(w, dm(9)) + rec(3, struct.pack("<I", 0x10006)) + rec(10, b"")
    return s


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {
        "session": session(),
        "hostile": hostile(),
        "contact-old-version": contact(0x40001) + post(b"", 1) + take() +
        post(struct.pack("<IIII", 14, 0, 0x40001, 0) + bytes(24), 1) + take(),
        "contact-wrong-id": contact(0x50000)[:3] + contact(0x50000)[3:] + take() +
        post(struct.pack("<IIII", 14, 0, 0x50003, 5) + bytes(24), 1),
        # regression: a one-page GPADL once let OPENCHANNEL's ring split run off its end
        "open-tiny-gpadl": contact() + take() + post(struct.pack("<II", 3, 0)) + take() * 6 +
        gpadl(1, 9, [RING // 4096]) + take() + open_channel(1, 9, 2) + take() +
        open_channel(1, 9, 0xffffffff) + take(),
        "storvsc-session": storvsc_session(),
        "storvsc-hostile": storvsc_hostile(),
        "balloon-session": balloon_session(),
        "balloon-hostile": balloon_session(True),
        "msr-garbage": rec(5, struct.pack("<IQ", 0x40000083, 0xffffffffffffffff)) +
        rec(5, struct.pack("<IQ", 0x40000092, 0x10000)) + contact() + take(),
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
