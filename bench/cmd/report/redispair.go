package main

import (
	"fmt"
	"os"
	"strconv"
)

// The Redis hit target compares round trips to a redis-server that shares
// the machine's two cores with the benchmark: run apart, even in the same
// round, the two sides move by a third. The library's own benchmark
// (storage/redis, BenchmarkHit/redis/interleaved) alternates a gecaso hit
// and a hand-written go-redis GET + msgpack hit call by call, serially and
// from every core, so that both see the same server at the same moment;
// the report judges the target on it when it ran.

// redisPairBench selects that benchmark.
const redisPairBench = `^BenchmarkHit$/^redis$/^interleaved(-parallel)?$`

// runRedisPair runs it, count times, in the library's module (the parent
// of bench/). Without a redis-server it skips, and the output holds no
// result.
func runRedisPair(count int) ([]byte, error) {
	args := []string{"test", "./storage/redis", "-run", "^$", "-bench", redisPairBench, "-count", strconv.Itoa(count)}
	cmd := goCommand(args...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "GOWORK=")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go test ./storage/redis: %w", err)
	}
	return out, nil
}

// redisPairSet turns that benchmark's results into the names of the
// suite's Redis pair (Hit/int/small and HitParallel/int/small, gecaso-redis
// and redis-memo), each side's time per hit as its ns/op, so that the
// targets table judges the pair on them.
func redisPairSet(raw []byte) (*resultSet, error) {
	got, err := parse(raw)
	if err != nil {
		return nil, err
	}
	set := &resultSet{metrics: map[string]map[string]summary{}, procs: got.procs}
	for _, pair := range []struct{ bench, workload string }{
		{"Hit/redis/interleaved", "Hit/int/small"},
		{"Hit/redis/interleaved-parallel", "HitParallel/int/small"},
	} {
		for _, side := range []struct{ unit, peer string }{{"gecaso-ns/hit", "gecaso-redis"}, {"goredis-ns/hit", "redis-memo"}} {
			s, ok := got.get(pair.bench, side.unit)
			if !ok {
				continue
			}
			name := pair.workload + "/" + side.peer
			set.names = append(set.names, name)
			set.metrics[name] = map[string]summary{"ns/op": s}
		}
	}
	return set, nil
}
