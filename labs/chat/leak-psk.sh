# leak-psk: with c2's PSK the attacker impersonates c2 to the server, yet the sessions it recorded earlier stay undecryptable (forward secrecy)
set -e
chat up --pace-ms 300 > /dev/null
chat wait established
chat wait messages 10
chat leak-psk c2
chat wait leaked c2
chat wait established --timeout 60s
chat check
chat stop
