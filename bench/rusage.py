# Fallback peak-memory probe for bench/measure.mjs, used only where GNU time is not available.
# usage: python3 rusage.py REPORT_FILE COMMAND [ARG...]
# Runs COMMAND (stdin, stdout and stderr inherited), then writes "WALL_S MAXRSS_KIB" to
# REPORT_FILE and exits with COMMAND's status. getrusage(RUSAGE_CHILDREN).ru_maxrss is the
# largest peak RSS (KiB on Linux) among the waited-for children; there is exactly one here, so
# it is the command's own peak. This wrapper's memory is not included.
import resource
import subprocess
import sys
import time

report, command = sys.argv[1], sys.argv[2:]
started = time.monotonic()
status = subprocess.call(command)
wall = time.monotonic() - started
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open(report, 'w') as f:
    f.write(f'{wall:.3f} {peak}\n')
sys.exit(status if status >= 0 else 128 - status)
