package main

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gecaso/gecaso/codec"
)

// decodeValue decodes msgpack data without knowing its Go type and returns
// it in the JSON form documented in doc.go. codec.Unmarshal validates the
// bytes before decoding them, so corrupt or hostile data gives an error
// matching codec.ErrCorrupt, never a panic or a huge allocation.
func decodeValue(data []byte) (any, error) {
	var v any
	if err := codec.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	return jsonValue(v), nil
}

// jsonValue converts a value decoded into an interface (nil, bool, int64,
// uint64, float32, float64, string, []byte, time.Time, []any,
// map[string]any, map[any]any) into one encoding/json writes as documented:
// numbers stay numbers, and what JSON cannot say becomes an object with one
// member whose name starts with '$'.
func jsonValue(v any) any {
	switch v := v.(type) {
	case nil, bool, string:
		return v
	case int64:
		return json.Number(strconv.FormatInt(v, 10))
	case uint64:
		return json.Number(strconv.FormatUint(v, 10))
	case float32:
		return jsonFloat(float64(v), 32)
	case float64:
		return jsonFloat(v, 64)
	case []byte:
		return map[string]any{"$bin": base64.StdEncoding.EncodeToString(v)}
	case time.Time:
		return map[string]any{"$time": v.UTC().Format(time.RFC3339Nano)}
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = jsonValue(x)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[escapeMember(k)] = jsonValue(x)
		}
		return out
	case map[any]any:
		// Keys that are not strings: a list of pairs, sorted by the JSON of
		// the key so that the output does not depend on map order.
		type pair struct {
			key  string
			pair []any
		}
		pairs := make([]pair, 0, len(v))
		for k, x := range v {
			jk := jsonValue(k)
			b, _ := json.Marshal(jk)
			pairs = append(pairs, pair{string(b), []any{jk, jsonValue(x)}})
		}
		slices.SortFunc(pairs, func(a, b pair) int { return cmp.Compare(a.key, b.key) })
		out := make([]any, len(pairs))
		for i, p := range pairs {
			out[i] = p.pair
		}
		return map[string]any{"$map": out}
	}
	// codec decodes nothing else into an interface.
	return map[string]any{"$unknown": fmt.Sprintf("%T", v)}
}

// jsonFloat writes f as a JSON number, or as {"$float": "NaN"} (also
// "+Inf", "-Inf") where JSON has no number for it.
func jsonFloat(f float64, bits int) any {
	switch {
	case math.IsNaN(f):
		return map[string]any{"$float": "NaN"}
	case math.IsInf(f, 1):
		return map[string]any{"$float": "+Inf"}
	case math.IsInf(f, -1):
		return map[string]any{"$float": "-Inf"}
	}
	// The shortest form that reads back as f; "1e+300" is valid JSON.
	return json.Number(strconv.FormatFloat(f, 'g', -1, bits))
}

// escapeMember keeps a map key that starts with '$' apart from the
// markers above by doubling its '$'.
func escapeMember(k string) string {
	if strings.HasPrefix(k, "$") {
		return "$" + k
	}
	return k
}
