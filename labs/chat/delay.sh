# delay: 200 ms per frame slows delivery but breaks nothing: no reconnect is needed, and the logs stay identical
set -e
chat up --pace-ms 300 > /dev/null
chat wait established
chat mitm delay 200
# The message goes up through the proxy and its acknowledgement comes back through it: at
# least two delayed frames, so at least 400 ms.
said=$(chat say c1 "slow but sure")
echo "$said"
ms=${said##* in }
ms=${ms% ms}
if [ "$ms" -lt 400 ]; then
  echo "delay: acknowledged in $ms ms, so the proxy did not hold the frames" >&2
  exit 1
fi
chat wait attack delay 2
chat mitm clear
chat say c1 "fast again"
chat check
chat stop
