# tamper: flipped bits fail authentication (counted as aead or bad_handshake), every session is re-established, logs stay identical
set -e
chat up --pace-ms 300 > /dev/null
chat wait established
chat wait messages 10
chat mitm rate 20
chat mitm tamper
chat wait attack tamper 5
chat wait reject aead 1 --timeout 60s
chat mitm clear
chat wait established --timeout 60s
chat check
chat stop
