"""Ground-station side of tests/uav_lab.rs: pymavlink, configured with the lab's signing key.

argv: UDP address, signing key (hex), number of drones. Prints one JSON line: every drone's
position as read, what a station with another key received, and what this station accepted
once it switched to another key (nothing: bad signatures).
"""
import json
import os
import sys
import time

os.environ["MAVLINK20"] = "1"
from pymavlink import mavutil  # noqa: E402

udp, key, n = sys.argv[1], bytes.fromhex(sys.argv[2]), int(sys.argv[3])
other = bytes((b ^ 0x5A) for b in key)


def station(k, sysid):
    c = mavutil.mavlink_connection("udpout:" + udp, source_system=sysid, dialect="common")
    c.setup_signing(k, sign_outgoing=True)
    return c


def heartbeat(c):
    c.mav.heartbeat_send(6, 8, 0, 0, 0)


good = station(key, 255)
seen = {}
deadline = time.time() + 90
last = 0.0
while len(seen) < n and time.time() < deadline:
    if time.time() - last > 0.5:
        heartbeat(good)
        last = time.time()
    m = good.recv_match(type="GLOBAL_POSITION_INT", blocking=True, timeout=0.2)
    if m is not None:
        seen[m.get_srcSystem()] = [m.lat, m.lon, m.relative_alt]

# A station with another key: its HEARTBEATs fail the check, so nothing is streamed to it.
bad = station(other, 254)
wrong_key_received = 0
end = time.time() + 3
last = 0.0
while time.time() < end:
    if time.time() - last > 0.5:
        heartbeat(bad)
        last = time.time()
    m = bad.recv_match(blocking=True, timeout=0.2)
    if m is not None and m.get_type() != "BAD_DATA":
        wrong_key_received += 1

# This station switches to another key: the fleet's frames now fail its signature check.
good.mav.signing.secret_key = other
before = good.mav.signing.badsig_count
accepted = 0
end = time.time() + 2
while time.time() < end:
    m = good.recv_match(type="GLOBAL_POSITION_INT", blocking=True, timeout=0.2)
    if m is not None:
        accepted += 1
print(json.dumps({
    "positions": {str(k): v for k, v in seen.items()},
    "wrong_key_received": wrong_key_received,
    "accepted_with_other_key": accepted,
    "badsig": good.mav.signing.badsig_count - before,
}))
