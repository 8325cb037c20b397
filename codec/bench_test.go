package codec

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

type benchStruct struct {
	ID    int
	Name  string
	Score float64
	OK    bool
}

var benchSmall = benchStruct{ID: 12345, Name: "ada lovelace", Score: 9.5, OK: true}

// benchRecord is a user record as a service's database returns it: five
// fields, one a slice of strings.
type benchRecord struct {
	ID    int64
	Name  string
	Email string
	Roles []string
	Score float64
}

var benchRec = benchRecord{ID: 12345, Name: "user-12345", Email: "user-12345@example.com", Roles: []string{"reader", "writer", "group-26"}, Score: 1763.57}

func BenchmarkMarshal(b *testing.B) {
	benchmarks := []struct {
		name string
		give any
	}{
		{"int", 123456},
		{"string", "a modest argument string"},
		{"small_struct", benchSmall},
		{"map", map[string]int{"alpha": 1, "beta": 2, "gamma": 3, "delta": 4, "epsilon": 5, "zeta": 6, "eta": 7, "theta": 8}},
	}
	for _, bm := range benchmarks {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Marshal(bm.give); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncoderAppend(b *testing.B) {
	buf := make([]byte, 0, 256)
	b.Run("int", func(b *testing.B) {
		e, _ := NewEncoder[int]()
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = e.Append(buf[:0], 123456)
		}
	})
	b.Run("small_struct", func(b *testing.B) {
		e, _ := NewEncoder[benchStruct]()
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = e.Append(buf[:0], benchSmall)
		}
	})
	b.Run("map", func(b *testing.B) {
		e, _ := NewEncoder[map[string]int]()
		m := map[string]int{"alpha": 1, "beta": 2, "gamma": 3, "delta": 4}
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = e.Append(buf[:0], m)
		}
	})
}

func BenchmarkAppendEnvelope(b *testing.B) {
	data, _ := Marshal(benchSmall)
	buf := make([]byte, 0, 256)
	b.Run("no_params", func(b *testing.B) {
		e := Envelope{WrittenAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour), Data: data}
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = AppendEnvelope(buf[:0], &e)
		}
	})
	b.Run("params", func(b *testing.B) {
		e := Envelope{WrittenAt: time.Now(), Params: map[string]any{"source": "db"}, Data: data}
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = AppendEnvelope(buf[:0], &e)
		}
	})
}

func BenchmarkDecodeEnvelope(b *testing.B) {
	for _, size := range []int{64, 16 << 10} {
		data := append(appendBinHeader(nil, size), bytes.Repeat([]byte{1}, size)...)
		env, _ := AppendEnvelope(nil, &Envelope{WrittenAt: time.Now(), Params: map[string]any{"source": "db"}, Data: data})
		b.Run(sizeName(size), func(b *testing.B) {
			var e Envelope
			b.ReportAllocs()
			b.SetBytes(int64(len(env)))
			for b.Loop() {
				if err := DecodeEnvelope(env, &e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func sizeName(n int) string {
	if n >= 1<<10 {
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

func BenchmarkUnmarshal(b *testing.B) {
	b.Run("int", func(b *testing.B) {
		data, _ := Marshal(123456)
		var v int
		b.ReportAllocs()
		for b.Loop() {
			if err := Unmarshal(data, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("string", func(b *testing.B) {
		data, _ := Marshal("a modest result string")
		var v string
		b.ReportAllocs()
		for b.Loop() {
			if err := Unmarshal(data, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("small_struct", func(b *testing.B) {
		data, _ := Marshal(benchSmall)
		var v benchStruct
		b.ReportAllocs()
		for b.Loop() {
			if err := Unmarshal(data, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("record", func(b *testing.B) {
		data, _ := Marshal(benchRec)
		b.ReportAllocs()
		for b.Loop() {
			var v benchRecord
			if err := Unmarshal(data, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, size := range []int{1 << 10, 16 << 10} {
		b.Run("bytes_"+sizeName(size), func(b *testing.B) {
			data, _ := Marshal(bytes.Repeat([]byte{7}, size))
			var v []byte
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				if err := Unmarshal(data, &v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("map_string_any", func(b *testing.B) {
		data, _ := Marshal(map[string]any{"source": "db", "n": 3, "tags": []string{"a", "b"}})
		var v map[string]any
		b.ReportAllocs()
		for b.Loop() {
			if err := Unmarshal(data, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkPackUnpack(b *testing.B) {
	b.Run("pack", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Pack(benchSmall, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("unpack", func(b *testing.B) {
		env, _ := Pack(benchSmall, nil)
		var v benchStruct
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Unpack(env, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
