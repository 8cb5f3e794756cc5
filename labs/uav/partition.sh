# partition: a drone cut off from mission control holds and resumes its mission when the link heals; cut off for longer, it returns to launch
set -e
uav up --drones 2 > /dev/null
uav wait linked
uav mission orbit
uav wait mode mission
uav partition 3
uav wait mode hold 3
uav heal
uav wait mode mission 3
uav partition 3
uav wait mode rtl 3 --timeout 30s
uav heal
uav wait linked --timeout 60s
uav stop
