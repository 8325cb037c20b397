package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

var statsCommand = &command{
	name:     "stats",
	synopsis: "TARGET",
	summary:  "entries, bytes, sizes, ages per namespace; disk use",
	nargs:    [2]int{1, 1},
	details: `
Stats reads every entry of TARGET and reports, per namespace (the part of a
key before its first ':', such as "app.fetchUser@2"; keys of another form
count under "(other)"): the entries, the bytes of their values, the entries
that are expired but still stored (gc removes them) and the corrupt ones,
which do not decode as verify decodes them (verify lists them). Then the distribution of the entries' sizes
and ages (time since written), in buckets, and for a Badger directory the
space its LSM tree (*.sst) and value log (*.vlog) take on disk.

It never modifies TARGET.`,
	run: runStats,
}

// Bucket bounds. Sizes: value bytes up to each bound; ages: up to each
// bound since written.
var (
	sizeBounds = []int64{64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20}
	ageBounds  = []time.Duration{time.Minute, 10 * time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour}
)

// statsReport is the JSON document of stats.
type statsReport struct {
	Target     string            `json:"target"`
	Kind       string            `json:"kind"`
	Entries    int64             `json:"entries"`
	Bytes      int64             `json:"bytes"`
	Expired    int64             `json:"expired"`
	Corrupt    int64             `json:"corrupt"`
	Namespaces []*namespaceStats `json:"namespaces"`
	Sizes      distribution      `json:"sizes"`
	Ages       distribution      `json:"ages"`
	Disk       *diskUsage        `json:"disk,omitempty"`
}

type namespaceStats struct {
	Name    string `json:"name"`
	Entries int64  `json:"entries"`
	Bytes   int64  `json:"bytes"`
	Expired int64  `json:"expired"`
	Corrupt int64  `json:"corrupt"`
}

// distribution summarises sizes in bytes or ages in seconds.
type distribution struct {
	Count   int64    `json:"count"` // entries measured: ages need a decodable envelope with a write time
	Min     float64  `json:"min"`
	Mean    float64  `json:"mean"`
	Max     float64  `json:"max"`
	Buckets []bucket `json:"buckets"`
}

// bucket counts the entries above the previous bucket's bound, up to and
// including LE; the last bucket has no bound (LE is null).
type bucket struct {
	LE      *float64 `json:"le"`
	Entries int64    `json:"entries"`
}

// histogram accumulates a distribution.
type histogram struct {
	bounds   []float64
	counts   []int64 // len(bounds)+1
	n        int64
	sum      float64
	min, max float64
}

func newHistogram(bounds []float64) *histogram {
	return &histogram{bounds: bounds, counts: make([]int64, len(bounds)+1), min: math.Inf(1), max: math.Inf(-1)}
}

func (h *histogram) add(x float64) {
	i, _ := slices.BinarySearch(h.bounds, x)
	h.counts[i]++
	h.n++
	h.sum += x
	h.min = min(h.min, x)
	h.max = max(h.max, x)
}

func (h *histogram) distribution() distribution {
	d := distribution{Count: h.n}
	if h.n > 0 {
		d.Min, d.Max, d.Mean = h.min, h.max, h.sum/float64(h.n)
	}
	for i, c := range h.counts {
		b := bucket{Entries: c}
		if i < len(h.bounds) {
			le := h.bounds[i]
			b.LE = &le
		}
		d.Buckets = append(d.Buckets, b)
	}
	return d
}

func runStats(ctx context.Context, o *options, args []string) error {
	t, err := openTarget(ctx, args[0], o, readOnly)
	if err != nil {
		return err
	}
	defer t.Close()

	sizeB := make([]float64, len(sizeBounds))
	for i, b := range sizeBounds {
		sizeB[i] = float64(b)
	}
	ageB := make([]float64, len(ageBounds))
	for i, b := range ageBounds {
		ageB[i] = b.Seconds()
	}
	sizes, ages := newHistogram(sizeB), newHistogram(ageB)
	r := &statsReport{Target: t.spec, Kind: t.kind}
	byName := map[string]*namespaceStats{}
	now := time.Now()
	p := newProgress(o.stderr, "stats", 0, false)
	err = t.walk(ctx, "", func(e *entry) error {
		p.add(1)
		name := namespace(e.Info.Key)
		ns := byName[name]
		if ns == nil {
			ns = &namespaceStats{Name: name}
			byName[name] = ns
		}
		n := int64(len(e.Value))
		ns.Entries++
		ns.Bytes += n
		sizes.add(float64(n))
		in := inspect(e.Value, true)
		switch {
		case in.err != nil:
			ns.Corrupt++
		case in.expired(now):
			ns.Expired++
		}
		if in.err == nil && !in.env.WrittenAt.IsZero() {
			ages.add(max(0, now.Sub(in.env.WrittenAt).Seconds()))
		}
		return nil
	})
	p.done()
	if err != nil {
		return fmt.Errorf("stats %s: %w", t.spec, err)
	}
	for _, ns := range byName {
		r.Namespaces = append(r.Namespaces, ns)
		r.Entries += ns.Entries
		r.Bytes += ns.Bytes
		r.Expired += ns.Expired
		r.Corrupt += ns.Corrupt
	}
	slices.SortFunc(r.Namespaces, func(a, b *namespaceStats) int { return strings.Compare(a.Name, b.Name) })
	if r.Namespaces == nil {
		r.Namespaces = []*namespaceStats{}
	}
	r.Sizes, r.Ages = sizes.distribution(), ages.distribution()
	if t.kind == "badger" {
		du, err := badgerDiskUsage(t.dir)
		if err != nil {
			return fmt.Errorf("stats %s: %w", t.spec, err)
		}
		r.Disk = &du
	}
	if o.json {
		return writeJSON(o.stdout, r)
	}
	return printStats(o.stdout, r)
}

func printStats(out io.Writer, r *statsReport) error {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "target\t%s (%s)\n", r.Target, r.Kind)
	fmt.Fprintf(w, "entries\t%d\t%s\n", r.Entries, size(r.Bytes))
	fmt.Fprintf(w, "expired\t%d\tstill stored: gc removes them\n", r.Expired)
	fmt.Fprintf(w, "corrupt\t%d\tverify lists them\n", r.Corrupt)
	if d := r.Disk; d != nil {
		fmt.Fprintf(w, "disk\t%s\tLSM %s in %d table%s, value log %s in %d file%s, other %s\n",
			size(d.Total), size(d.LSMBytes), d.LSMFiles, plural(d.LSMFiles),
			size(d.VlogBytes), d.VlogFiles, plural(d.VlogFiles), size(d.OtherBytes))
	}
	if len(r.Namespaces) > 0 {
		fmt.Fprintf(w, "\nNAMESPACE\tENTRIES\tBYTES\tEXPIRED\tCORRUPT\n")
		for _, ns := range r.Namespaces {
			fmt.Fprintf(w, "%s\t%d\t%s\t%d\t%d\n", textKey(ns.Name), ns.Entries, size(ns.Bytes), ns.Expired, ns.Corrupt)
		}
	}
	if r.Sizes.Count > 0 {
		fmt.Fprintf(w, "\nSIZE\tENTRIES\n")
		printBuckets(w, r.Sizes, func(x float64) string { return size(int64(x)) })
		fmt.Fprintf(w, "min %s, mean %s, max %s\n", size(int64(r.Sizes.Min)), size(int64(r.Sizes.Mean)), size(int64(r.Sizes.Max)))
	}
	if r.Ages.Count > 0 {
		fmt.Fprintf(w, "\nAGE\tENTRIES\n")
		printBuckets(w, r.Ages, func(x float64) string { return age(x) })
		fmt.Fprintf(w, "min %s, mean %s, max %s\n", age(r.Ages.Min), age(r.Ages.Mean), age(r.Ages.Max))
	}
	return w.Flush()
}

// printBuckets prints the non-empty buckets of d, each as "<= bound" (the
// last as "> bound").
func printBuckets(w io.Writer, d distribution, label func(float64) string) {
	var last float64
	for _, b := range d.Buckets {
		if b.LE == nil {
			if b.Entries > 0 {
				fmt.Fprintf(w, "> %s\t%d\n", label(last), b.Entries)
			}
			break
		}
		last = *b.LE
		if b.Entries > 0 {
			fmt.Fprintf(w, "<= %s\t%d\n", label(*b.LE), b.Entries)
		}
	}
}

// age formats seconds for people.
func age(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%.1fd", d.Hours()/24)
	case d >= time.Hour:
		return fmt.Sprintf("%.1fh", d.Hours())
	case d >= time.Minute:
		return fmt.Sprintf("%.1fm", d.Minutes())
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}
