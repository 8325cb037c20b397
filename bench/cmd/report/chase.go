package main

import (
	"math/rand/v2"
	"time"
)

// chase returns the latency of a random read, in ns, among size bytes: a
// pointer chase through a random cycle of one slot per 64-byte line, so
// that each read depends on the one before and lands on another line.
func chase(size int) float64 {
	const line = 16 // uint32 slots per 64-byte line
	n := max(size/64, 2)
	next := make([]uint32, n*line) // next[i*line] is the line after line i
	// Sattolo's shuffle: a random permutation that is a single cycle.
	perm := make([]uint32, n)
	for i := range perm {
		perm[i] = uint32(i)
	}
	for i := n - 1; i > 0; i-- {
		j := rand.IntN(i)
		perm[i], perm[j] = perm[j], perm[i]
	}
	for i := range n {
		next[i*line] = perm[i]
	}
	steps := min(4*n, 4_000_000)
	p := uint32(0)
	for range min(n, 1_000_000) { // warm the caches and page tables as a long run would
		p = next[int(p)*line]
	}
	start := time.Now()
	for range steps {
		p = next[int(p)*line]
	}
	ns := float64(time.Since(start).Nanoseconds()) / float64(steps)
	sink = p
	return ns
}

// sink keeps the chase from being optimised away.
var sink uint32
