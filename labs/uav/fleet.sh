# fleet: the fleet links up and flies a mission on one broadcast; one drone obeys a goto; a drone killed and restarted handshakes again and rejoins; a broadcast lands everyone
set -e
uav up --drones 3 > /dev/null
uav wait linked
uav mission survey
uav wait mode mission
uav cmd 2 goto 20 40 30
uav wait mode goto 2
uav kill 3
uav restart 3
uav wait linked --timeout 90s
uav broadcast land
uav wait mode landed --timeout 60s
uav stop
