package codec_test

import (
	"fmt"
	"time"

	"github.com/gecaso/gecaso/codec"
)

func ExampleMarshal() {
	// Maps encode the same whatever order they were filled in, ints of any
	// width encode by value, and times by instant.
	a := map[string]any{"user": 42, "since": time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC)}
	b := map[string]any{"since": time.Date(2024, 1, 2, 4, 4, 5, 6, time.FixedZone("CET", 3600)), "user": int64(42)}

	ka, _ := codec.Marshal(a)
	kb, _ := codec.Marshal(b)
	fmt.Printf("%x\n", ka)
	fmt.Println(string(ka) == string(kb))

	text, _ := codec.AppendText(nil, ka)
	fmt.Println(string(text))
	// Output:
	// 82a4757365722aa573696e6365d7ff0000001865937d25
	// true
	// {"user":42,"since":2024-01-02T03:04:05.000000006Z}
}

func ExamplePack() {
	type Result struct {
		Name  string
		Score float64
	}
	b, err := codec.Pack(Result{Name: "ada", Score: 9.5}, map[string]any{"source": "db"})
	if err != nil {
		fmt.Println(err)
		return
	}

	var got Result
	params, err := codec.Unpack(b, &got)
	if err != nil {
		fmt.Println("miss:", err) // codec.ErrCorrupt: treat as a miss
		return
	}
	fmt.Printf("%+v %v\n", got, params)

	b[len(b)-1] ^= 1 // a flipped bit
	_, err = codec.Unpack(b, &got)
	fmt.Println(err != nil)
	// Output:
	// {Name:ada Score:9.5} map[source:db]
	// true
}

func ExampleNewEncoder() {
	type Args struct {
		City string
		Days int
	}
	enc, err := codec.NewEncoder[Args]()
	if err != nil {
		fmt.Println(err)
		return
	}
	buf := make([]byte, 0, 64)
	buf, _ = enc.Append(buf, Args{City: "Oslo", Days: 3})
	fmt.Printf("%x\n", buf)
	// Output:
	// 82a443697479a44f736c6fa44461797303
}

func ExampleEnvelope_Servable() {
	written := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	frame, err := codec.AppendEnvelope(nil, &codec.Envelope{
		WrittenAt:  written,
		ExpiresAt:  written.Add(time.Minute),      // fresh for a minute
		StaleUntil: written.Add(10 * time.Minute), // then servable stale for nine more
		Data:       []byte{0x2a},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	var e codec.Envelope
	if err := codec.DecodeEnvelope(frame, &e); err != nil {
		fmt.Println("miss:", err)
		return
	}
	for _, after := range []time.Duration{30 * time.Second, 5 * time.Minute, time.Hour} {
		now := written.Add(after)
		fmt.Printf("after %v: expired %v, servable %v\n", after, e.Expired(now), e.Servable(now))
	}
	fmt.Println("keep until", e.ServableUntil().Format(time.TimeOnly))
	// Output:
	// after 30s: expired false, servable true
	// after 5m0s: expired true, servable true
	// after 1h0m0s: expired true, servable false
	// keep until 12:10:00
}
