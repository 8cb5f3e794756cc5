# low-battery: a drone's battery drops to 15% mid-mission: it leaves the mission and returns to launch; at 3% another lands where it is; the rest fly on
set -e
uav up --drones 3 > /dev/null
uav wait linked
uav mission orbit
uav wait mode mission
uav battery 3 15
uav wait mode rtl 3
uav battery 4 3
uav wait mode mission 2
uav status
uav stop
