#!/usr/bin/python3
"""Writes tests/damaged-h5/btree-self-rc139.h5: a file h5py writes (x and y in
an old-style group), then its group's B-tree node made an inner node whose only
child is itself. libhdf5 1.10.8 looks names up (and lists them) by recursing
into the child for ever: a stack overflow, SIGSEGV (status 139) before tg's
guard, "the file is damaged" with it (its handler runs on its own stack).

Run with Debian's python (it has h5py):
    /usr/bin/python3 tests/damaged-h5/make_btree_self.py
"""
import io
import os
import h5py
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
buf = io.BytesIO()
with h5py.File(buf, "w", libver="earliest") as f:
    f["x"] = np.linspace(0, 1, 8)
    f["y"] = 2 * np.linspace(0, 1, 8) + 1
data = bytearray(buf.getvalue())
node = data.find(b"TREE")  # "TREE", type, level, entries, left, right, key0, child0, ...
assert node > 0 and data[node + 5] == 0
data[node + 5] = 1  # level 1: its children are B-tree nodes
child0 = node + 4 + 1 + 1 + 2 + 8 + 8 + 8
data[child0:child0 + 8] = node.to_bytes(8, "little")  # ... and the first is itself
path = os.path.join(here, "btree-self-rc139.h5")
with open(path, "wb") as out:
    out.write(data)
print(path)
