"""Writing .npy files as numpy does (version 1.0 header, C order), for the test scripts: no numpy needed."""
import struct


def npy(path, descr, shape, fmt, values):
    """descr '<f4' / '<i8', shape a tuple, fmt the struct code ('f', 'q'), values a flat list"""
    hdr = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (descr, "".join(f"{d}, " for d in shape))
    hdr += " " * (63 - (10 + len(hdr)) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode())
        f.write(struct.pack("<%d%s" % (len(values), fmt), *values))
