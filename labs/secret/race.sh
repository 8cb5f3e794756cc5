# The race: 100 concurrent claimers on one link, ten times; exactly one wins each time
set -e
secret up
for i in 1 2 3 4 5 6 7 8 9 10; do
  url=$(echo "race $i" | secret send)
  secret race "$url" --claimers 100 | grep -q 'burned by race losers: 0'
done
echo "10 races, exactly one winner each"
secret stop
