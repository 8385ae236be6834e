"""The psutil peer of the netmon benchmark.

It mirrors the behaviour of the original netmon.py in its --once form, the script a user would
run instead of netmon: list every inet socket with psutil, look up the process name of each
owning pid, print one table row per socket, and append the rows to a CSV file (with a header
line when the file is new).

usage: /usr/bin/python3 netmon_peer.py [CSV_PATH]    (Debian: apt-get install python3-psutil)
"""
import csv
import datetime
import os
import socket
import sys

import psutil

HEADER = ['Timestamp', 'Proto', 'Local addr', 'Remote addr', 'PID', 'Process', 'Status']


def endpoint(addr):
    return f'{addr.ip}:{addr.port}' if addr else '*:*'


def collect(stamp):
    process_names = {}

    def name_of(pid):
        if not pid:
            return ''
        if pid not in process_names:
            try:
                process_names[pid] = psutil.Process(pid).name()
            except (psutil.Error, OSError):
                process_names[pid] = ''
        return process_names[pid]

    rows = []
    for conn in psutil.net_connections(kind='inet'):
        proto = 'TCP' if conn.type == socket.SOCK_STREAM else 'UDP'
        rows.append([stamp, proto, endpoint(conn.laddr), endpoint(conn.raddr),
                     conn.pid or '', name_of(conn.pid), conn.status])
    return rows


def append_csv(path, rows):
    is_new = not os.path.exists(path)
    with open(path, 'a', newline='') as handle:
        writer = csv.writer(handle)
        if is_new:
            writer.writerow(HEADER)
        writer.writerows(rows)


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else 'network_connections.csv'
    stamp = datetime.datetime.now().strftime('%Y-%m-%d %H:%M:%S')
    rows = collect(stamp)
    append_csv(path, rows)
    out = sys.stdout
    for stamp_, proto, local, remote, pid, name, _status in rows:
        out.write(f'{stamp_}  {proto:<5} {local:<24} {remote:<24} {str(pid):<7} {name}\n')
    out.write(f'Output appended -> {path} ({len(rows)} rows)\n')


if __name__ == '__main__':
    main()
