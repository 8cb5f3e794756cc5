# Kill tracker 1 mid-transfer: downloads go on, clients fail over to tracker 2.
p2p up
p2p status
p2p kill 1
p2p status
