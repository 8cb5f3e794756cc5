# revoke-enroll: a revoked client is cut off and refused (counted as revoked); re-enrolled with a fresh PSK it catches up on what it missed
set -e
chat up --pace-ms 300 > /dev/null
chat wait established
chat revoke c1
chat wait reject revoked 1 --timeout 30s
chat say c3 "c1 cannot read this yet"
chat enroll c1
chat wait established --timeout 60s
chat check
chat stop
