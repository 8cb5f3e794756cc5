# delay: 200 ms per frame slows delivery but breaks nothing: no reconnect is needed, and the logs stay identical
set -e
chat up --pace-ms 300 > /dev/null
chat wait established
chat mitm delay 200
chat say c1 "slow but sure"
chat mitm clear
chat check
chat stop
