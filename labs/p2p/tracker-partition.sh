# Partition the trackers, then heal: their digests diverge, then converge.
p2p up
p2p partition 1
p2p status
p2p heal
p2p status
