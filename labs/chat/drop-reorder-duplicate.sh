# drop-reorder-duplicate: 10% drops + reordered + duplicated frames for a while (argument: extra seconds, default 3): sessions break and resume, no message is lost or duplicated at any member
set -e
chat up --pace-ms 300 > /dev/null
chat wait established
chat mitm drop 10%
chat mitm reorder
chat mitm duplicate
chat wait attack drop 10 --timeout 60s
chat wait attack reorder 3 --timeout 60s
chat wait attack duplicate 3 --timeout 60s
chat wait reconnects 5 --timeout 60s
sleep "${1:-3}"
chat mitm clear
chat wait established --timeout 60s
chat check
chat stop
