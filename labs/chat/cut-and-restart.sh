# cut-and-restart: every connection reset, then the server killed and restarted from its logs: clients resume from their last id, exactly once
set -e
chat up --pace-ms 300 > /dev/null
chat wait established
chat wait messages 10
chat mitm cut
chat wait reconnects 3
chat wait established
chat kill 1
chat restart 1
chat wait established --timeout 60s
chat kill 5
chat say c1 "while c3 is down"
chat restart 5
chat wait established --timeout 60s
chat check
chat stop
