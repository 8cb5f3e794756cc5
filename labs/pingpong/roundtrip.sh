# Both nodes echo; a killed node refuses, and echoes again once restarted
set -e
pingpong up
pingpong send 1 hello
pingpong send 2 world
pingpong kill 2
! pingpong send 2 lost
pingpong restart 2
pingpong send 2 back
pingpong stop
