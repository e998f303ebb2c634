#!/usr/bin/env python3
"""bench/hkpcount.py - a TCP relay that counts HTTP requests to SKS.

  hkpcount.py LISTEN_PORT SKS_PORT COUNT_FILE

Listens on 127.0.0.1:LISTEN_PORT, relays each connection to
127.0.0.1:SKS_PORT and back unchanged, and counts the request lines
("GET /pks/lookup...", "POST /pks/add ...") the clients send, writing
the count to COUNT_FILE after each one.  For bench/s6_replies.sh: how
many requests a reply to a mail command costs SKS.
"""
import re
import socket
import sys
import threading

lock = threading.Lock()
count = 0
REQ = re.compile(rb"(?:^|\r\n)(?:GET|POST|HEAD) /")


def pump(src, dst, counting, path):
    global count
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            # A client writes each request in one piece, so a request
            # line starts a chunk (or follows a pipelined one's CRLF).
            if counting:
                n = len(REQ.findall(data))
                if n:
                    with lock:
                        count += n
                        with open(path, "w") as f:
                            f.write("%d\n" % count)
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def main():
    lport, sport, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    with open(path, "w") as f:
        f.write("0\n")
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", lport))
    ls.listen(64)
    while True:
        c, _ = ls.accept()
        u = socket.create_connection(("127.0.0.1", sport))
        threading.Thread(target=pump, args=(c, u, True, path), daemon=True).start()
        threading.Thread(target=pump, args=(u, c, False, path), daemon=True).start()


if __name__ == "__main__":
    main()
