#!/usr/bin/env python3
"""Turn a VHDX file into a fuzz-vhdx input: the file's non-zero 4 KiB pages as records
(u32 offset, u16 length, bytes), then a length-0 record giving the file size.  Files larger
than 64 MiB cannot be described (the fuzzer takes offsets modulo 64 MiB).

usage: vhdx2corpus.py IMAGE OUTPUT"""
import struct
import sys

PAGE = 4096
MAX = 0xFFFF & ~(PAGE - 1)


def main():
    src, dst = sys.argv[1], sys.argv[2]
    data = open(src, 'rb').read()
    if len(data) > 64 << 20:
        sys.exit('%s: larger than 64 MiB' % src)
    out = bytearray()
    off = 0
    while off < len(data):
        page = data[off:off + PAGE]
        if not any(page):
            off += PAGE
            continue
        end = off
        while end < len(data) and end - off < MAX and any(data[end:end + PAGE]):
            end += PAGE
        chunk = data[off:end].rstrip(b'\0') or b'\0'
        out += struct.pack('<IH', off, len(chunk)) + chunk
        off = end
    out += struct.pack('<IH', len(data), 0)
    open(dst, 'wb').write(out)


if __name__ == '__main__':
    main()
