#!/usr/bin/env python3
"""onpty.py OUT ERR CMD ARGS...: runs CMD with its stdout and stderr on
two pseudo-terminals of their own and saves the bytes each got, as a
terminal would receive them, to OUT and ERR.  Exits with CMD's status.
"""

import os
import select
import subprocess
import sys
import termios
import tty


def raw_pty():
    master, slave = os.openpty()
    # No \n -> \r\n: the bytes saved are the bytes the command wrote.
    tty.setraw(slave, termios.TCSANOW)
    return master, slave


def main():
    out_path, err_path, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
    pty_out, pty_err = raw_pty(), raw_pty()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                            stdout=pty_out[1], stderr=pty_err[1])
    os.close(pty_out[1])
    os.close(pty_err[1])
    got = {pty_out[0]: b"", pty_err[0]: b""}
    open_fds = set(got)
    while open_fds:
        ready, _, _ = select.select(list(open_fds), [], [], 60)
        if not ready:
            break
        for fd in ready:
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the other side is closed
                data = b""
            if data:
                got[fd] += data
            else:
                open_fds.discard(fd)
    status = proc.wait()
    with open(out_path, "wb") as f:
        f.write(got[pty_out[0]])
    with open(err_path, "wb") as f:
        f.write(got[pty_err[0]])
    sys.exit(status)


main()
