#!/usr/bin/env python3
"""The lecture's multicast receiver, plain Python (socket and struct modules only).

    python3 receiver.py GROUP PORT IFACE_ADDR [TIMEOUT_SECONDS]

Binds (GROUP, PORT), so that only datagrams sent to GROUP reach it, joins GROUP on the
interface that holds IFACE_ADDR with IP_ADD_MEMBERSHIP and an ip_mreq packed as
struct.pack("=4s4s", group, interface), prints the first datagram and exits 0. Exits 1 when
nothing arrives within TIMEOUT_SECONDS (default 10). Notes go to stderr, in the words
`mcast recv --explain` uses.

The mcast equivalent: mcast recv GROUP PORT -i IFACE_ADDR -c 1 --timeout 10s --explain
"""
import socket
import struct
import sys

if len(sys.argv) not in (4, 5):
    sys.exit("usage: receiver.py GROUP PORT IFACE_ADDR [TIMEOUT_SECONDS]")
MCAST_GRP, MCAST_PORT, IFACE = sys.argv[1], int(sys.argv[2]), sys.argv[3]
TIMEOUT = float(sys.argv[4]) if len(sys.argv) == 5 else 10.0


def note(text):
    print(text, file=sys.stderr, flush=True)


sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind((MCAST_GRP, MCAST_PORT))
note("bound to %s:%d" % sock.getsockname())
mreq = struct.pack("=4s4s", socket.inet_aton(MCAST_GRP), socket.inet_aton(IFACE))
sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
note('socket option IPPROTO_IP IP_ADD_MEMBERSHIP=%s (ip_mreq: group %s, interface %s; '
     'Python: struct.pack("=4s4s", socket.inet_aton("%s"), socket.inet_aton("%s")))'
     % (" ".join("%02x" % b for b in mreq), MCAST_GRP, IFACE, MCAST_GRP, IFACE))
note("listening on %s:%d (interface %s)" % (MCAST_GRP, MCAST_PORT, IFACE))
sock.settimeout(TIMEOUT)
try:
    data, addr = sock.recvfrom(65535)
except socket.timeout:
    note("timeout: received no datagram within %gs" % TIMEOUT)
    sys.exit(1)
print(data.decode(errors="replace"), flush=True)
note("received %d bytes from %s:%d" % (len(data), addr[0], addr[1]))
