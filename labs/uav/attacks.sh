# attacks: replay, tamper, rogue drone, man in the middle and downgrade are each refused with the reason counted, and the fleet stays linked
set -e
uav up --drones 2 > /dev/null
uav wait linked
uav attack replay
uav attack tamper
uav attack rogue
uav attack mitm
uav attack downgrade
uav wait linked --timeout 90s
uav stop
