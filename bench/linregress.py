#!/usr/bin/python3
"""What a user would run instead of tg-fit on a large file: h5py reads x and y,
scipy.stats.linregress fits the line. Timed by bench/fitfile.sh as a whole
process (start-up, imports, read, fit), as tg-fit is.

    /usr/bin/python3 bench/linregress.py FILE
"""
import sys

import h5py
from scipy import stats

with h5py.File(sys.argv[1], "r") as f:
    x = f["x"][()]
    y = f["y"][()]
r = stats.linregress(x, y)
print("w=%r\nb=%r\nw_stderr=%r" % (r.slope, r.intercept, r.stderr))
