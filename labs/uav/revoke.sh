# revoke: the others get a new fleet key; the revoked drone cannot decrypt the next broadcast (it logs it), loses its link and returns to launch; enrolled again with a fresh key it rejoins
set -e
uav up --drones 3 > /dev/null
uav wait linked
uav mission orbit
uav wait mode mission
uav revoke 4
uav wait reject cannot_decrypt 1 4
uav wait epoch 2
uav wait mode rtl 4 --timeout 30s
uav wait mode mission 2
uav wait reject revoked 1 1 --timeout 30s
uav enroll 4
uav wait linked --timeout 90s
uav stop
