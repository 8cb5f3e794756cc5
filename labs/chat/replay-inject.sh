# replay-inject: replayed frames and handshakes, forged frames and forged connections (unknown client, low-order point, short message 1) are all refused and counted by reason
set -e
chat up --pace-ms 300 > /dev/null
chat wait established
chat wait messages 5
chat mitm rate 10
chat mitm replay
chat mitm inject
chat wait attack replayed_session 1 --timeout 60s
chat wait attack forged_unknown 1 --timeout 60s
chat wait reject unknown_client 1 --timeout 60s
chat wait reject bad_handshake 2 --timeout 60s
chat wait reject aead 1 --timeout 60s
chat mitm clear
chat wait established --timeout 60s
chat check
chat stop
