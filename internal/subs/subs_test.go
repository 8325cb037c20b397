package subs

import "testing"

func TestSet(t *testing.T) {
	var s Set
	var calls [3]int
	c0, ok0 := s.Add(func() { calls[0]++ })
	_, ok1 := s.Add(func() { calls[1]++ })
	if !ok0 || !ok1 {
		t.Fatal("Add refused on an open Set")
	}
	c0()
	c0() // forgotten already: the subscription's own cancel runs again, as it is idempotent
	if calls[0] != 2 {
		t.Errorf("cancel 0 called %d times, want 2", calls[0])
	}
	s.Close()
	if calls[0] != 2 || calls[1] != 1 {
		t.Errorf("after Close: calls %v, want [2 1 0]: Close ends what is held, not what was cancelled", calls)
	}
	if _, ok := s.Add(func() { calls[2]++ }); ok || calls[2] != 1 {
		t.Errorf("Add after Close = %v with %d calls, want false and the subscription cancelled", ok, calls[2])
	}
	s.Close()
	if calls != [3]int{2, 1, 1} {
		t.Errorf("after a second Close: calls %v, want [2 1 1]", calls)
	}
}
