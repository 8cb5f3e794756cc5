# mc-restart: mission control killed → every drone holds, then returns to launch; mission control restarted from its registry → the fleet rejoins under a new fleet-key epoch
set -e
uav up --drones 3 > /dev/null
uav wait linked
uav mission orbit
uav wait mode mission
uav kill 1
uav wait mode hold
uav wait mode rtl --timeout 30s
uav restart 1
uav wait linked --timeout 90s
uav wait epoch 2
uav stop
