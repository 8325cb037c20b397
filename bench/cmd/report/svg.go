package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// The charts are plain SVG drawn here: bars and lines on logarithmic axes.

// colour returns a stable colour for a library: blues and greens for gecaso's
// variants, warm and grey tones for the peers.
func colour(peer string) string {
	known := map[string]string{
		"gecaso-memory":      "#1f5fa8",
		"gecaso-memory-near": "#4f9be0",
		"gecaso-lru":         "#2a8c5a",
		"gecaso-badger":      "#144a3a",
		"gecaso-redis":       "#5a3fa0",
		"gecaso-redis-near":  "#9a86d8",
		"gecaso-tiered":      "#3aa6a0",
		"otter":              "#d9822b",
		"otter-noexpiry":     "#f0b27a",
		"ristretto":          "#c0392b",
		"golang-lru":         "#8e6c3a",
		"freecache":          "#e5b81f",
		"sturdyc":            "#b04a8c",
		"go-redis-cache":     "#7f7f7f",
		"badger-memo":        "#4d4d4d",
		"redis-memo":         "#a0a0a0",
	}
	if c, ok := known[peer]; ok {
		return c
	}
	if isGecaso(peer) {
		return "#2f7fbf"
	}
	return "#999999"
}

type svgDoc struct{ b strings.Builder }

func (d *svgDoc) f(format string, args ...any) { fmt.Fprintf(&d.b, format, args...) }

func (d *svgDoc) text(x, y float64, anchor, style, s string) {
	d.f(`<text x="%.1f" y="%.1f" text-anchor="%s" %s>%s</text>`+"\n", x, y, anchor, style, html.EscapeString(s))
}

func newSVG(w, h int) *svgDoc {
	d := &svgDoc{}
	d.f(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif" font-size="12">`+"\n", w, h, w, h)
	d.f(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	return d
}

func (d *svgDoc) String() string { return d.b.String() + "</svg>\n" }

// logPos maps v to a position between p0 and p1 on a log scale from lo to hi.
// residentPanel draws the frame of a panel of values against resident
// entries, both on log scales: its title, its box, and a grid line with its
// label at each decade, the values' from lo to hi (labelled by label), the
// entries' from nLo to nHi.
func (d *svgDoc) residentPanel(title string, x0, x1, top, bottom, lo, hi, nLo, nHi float64, label func(float64) string) {
	d.text((x0+x1)/2, top-10, "middle", `font-weight="bold"`, title)
	d.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#999"/>`+"\n", x0, top, x1-x0, bottom-top)
	for v := lo; v <= hi*1.0001; v *= 10 {
		y := logPos(v, lo, hi, bottom, top)
		d.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e5e5e5"/>`+"\n", x0, y, x1, y)
		d.text(x0-6, y+4, "end", `fill="#555"`, label(v))
	}
	for v := nLo; v <= nHi*1.0001; v *= 10 {
		x := logPos(v, nLo, nHi, x0, x1)
		d.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e5e5e5"/>`+"\n", x, top, x, bottom)
		d.text(x, bottom+16, "middle", `fill="#555"`, si(v))
	}
	d.text((x0+x1)/2, bottom+34, "middle", `fill="#555"`, "resident entries")
}

func logPos(v, lo, hi, p0, p1 float64) float64 {
	v = math.Max(lo, math.Min(hi, v))
	return p0 + (math.Log10(v)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))*(p1-p0)
}

// decades returns the powers of ten that bound vs.
func decades(vs []float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, v := range vs {
		if v > 0 {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if math.IsInf(lo, 1) {
		return 1, 10
	}
	lo = math.Pow(10, math.Floor(math.Log10(lo)))
	hi = math.Pow(10, math.Ceil(math.Log10(hi)))
	if lo == hi {
		hi *= 10
	}
	return lo, hi
}

// si formats v with a k, M or G suffix.
func si(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.3gG", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.3gk", v/1e3)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

// throughputChart draws calls per second of a hit (int argument, small
// value) per library, one goroutine and GOMAXPROCS goroutines side by side.
func throughputChart(set *resultSet) string {
	const serialW, parallelW = "Hit/int/small", "HitParallel/int/small"
	peers := set.peers(serialW)
	for _, p := range set.peers(parallelW) {
		if !contains(peers, p) {
			peers = append(peers, p)
		}
	}
	if len(peers) == 0 {
		return ""
	}
	var all []float64
	ops := func(w, p string) float64 {
		ns, ok := set.ns(w + "/" + p)
		if !ok {
			return 0
		}
		return 1e9 / ns
	}
	for _, p := range peers {
		all = append(all, ops(serialW, p), ops(parallelW, p))
	}
	lo, hi := decades(all)
	const left, right, top, rowH = 170.0, 70.0, 60.0, 30.0
	width := 900.0
	height := top + rowH*float64(len(peers)) + 50
	d := newSVG(int(width), int(height))
	d.text(width/2, 22, "middle", `font-size="15" font-weight="bold"`, "Memoized hit: calls per second (int argument, small struct value; log scale)")
	procs := set.procs
	if procs == "" {
		procs = "GOMAXPROCS"
	}
	d.f(`<rect x="%.0f" y="32" width="12" height="10" fill="#555"/>`+"\n", left)
	d.text(left+16, 41, "start", "", "1 goroutine")
	d.f(`<rect x="%.0f" y="32" width="12" height="10" fill="#555" fill-opacity="0.45"/>`+"\n", left+110)
	d.text(left+126, 41, "start", "", procs+" goroutines (parallel)")
	x0, x1 := left, width-right
	bottom := top + rowH*float64(len(peers))
	for v := lo; v <= hi*1.0001; v *= 10 {
		x := logPos(v, lo, hi, x0, x1)
		d.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x, top-4, x, bottom)
		d.text(x, bottom+16, "middle", `fill="#555"`, si(v)+"/s")
	}
	for i, p := range peers {
		y := top + rowH*float64(i)
		style := ""
		if isGecaso(p) {
			style = `font-weight="bold"`
		}
		d.text(left-8, y+rowH/2+4, "end", style, p)
		for j, w := range []string{serialW, parallelW} {
			v := ops(w, p)
			if v <= 0 {
				continue
			}
			by := y + 3 + float64(j)*12
			bx := logPos(v, lo, hi, x0, x1)
			opacity := 1.0
			if j == 1 {
				opacity = 0.45
			}
			d.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="11" fill="%s" fill-opacity="%.2f"><title>%s %s: %s calls/s</title></rect>`+"\n",
				x0, by, math.Max(1, bx-x0), colour(p), opacity, html.EscapeString(p), w, si(v))
			d.text(bx+4, by+9, "start", `font-size="10" fill="#333"`, si(v))
		}
	}
	d.text(width/2, height-10, "middle", `fill="#555"`, "higher is better")
	return d.String()
}

// scalingChart draws, against the number of resident entries, the cost of a
// hit (left) and the heap each entry takes (right).
func scalingChart(set *resultSet) string {
	var sizes []string
	for _, w := range set.workloads() {
		if strings.HasPrefix(w, "Scale/n=") {
			sizes = append(sizes, w)
		}
	}
	if len(sizes) == 0 {
		return ""
	}
	var peers []string
	for _, w := range sizes {
		for _, p := range set.peers(w) {
			if !contains(peers, p) {
				peers = append(peers, p)
			}
		}
	}
	entries := func(w string) float64 {
		var n float64
		fmt.Sscanf(strings.TrimPrefix(w, "Scale/n="), "%g", &n)
		return n
	}
	nLo, nHi := decades([]float64{entries(sizes[0]), entries(sizes[len(sizes)-1])})
	const width, height = 1000.0, 470.0
	const top, bottom, panelW, gap, left = 50.0, 360.0, 360.0, 90.0, 70.0
	d := newSVG(int(width), int(height))
	d.text(width/2, 22, "middle", `font-size="15" font-weight="bold"`, "Cost against resident entries (int argument, small struct value; log scales)")
	panels := []struct {
		title, unit string
		x           float64
	}{
		{"hit, ns/op (lower is better)", "ns/op", left},
		{"Go heap per entry, bytes (lower is better)", "heap-B/entry", left + panelW + gap},
	}
	for _, pn := range panels {
		var vals []float64
		for _, w := range sizes {
			for _, p := range peers {
				if s, ok := set.get(w+"/"+p, pn.unit); ok && s.center > 0 {
					vals = append(vals, s.center)
				}
			}
		}
		lo, hi := decades(vals)
		x0, x1 := pn.x, pn.x+panelW
		d.residentPanel(pn.title, x0, x1, top, bottom, lo, hi, nLo, nHi, si)
		for _, p := range peers {
			var pts []string
			for _, w := range sizes {
				s, ok := set.get(w+"/"+p, pn.unit)
				if !ok || s.center <= 0 {
					continue
				}
				x := logPos(entries(w), nLo, nHi, x0, x1)
				y := logPos(s.center, lo, hi, bottom, top)
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
				d.f(`<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s %s: %s</title></circle>`+"\n", x, y, colour(p), html.EscapeString(p), w, si(s.center))
			}
			d.polyline(pts, p)
		}
	}
	d.legend(peers, left, bottom+60, width)
	return d.String()
}

// legend draws a key of names' lines along the bottom of a chart, from
// (left, y), wrapping before width; gecaso's series are solid, the
// peers' dashed, as in the chart.
func (d *svgDoc) legend(names []string, left, y, width float64) {
	x := left
	for _, name := range names {
		w := 20 + 7.2*float64(len(name)) + 18
		if x+w > width-10 {
			x, y = left, y+18
		}
		dash := ` stroke-dasharray="5,3"`
		if isGecaso(name) {
			dash = ""
		}
		d.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2.5"%s/>`+"\n", x, y-4, x+16, y-4, colour(name), dash)
		d.text(x+20, y, "start", "", name)
		x += w
	}
}

// polyline joins pts, the points of name's series, solid and thicker for
// gecaso's series, dashed for the peers'.
func (d *svgDoc) polyline(pts []string, name string) {
	if len(pts) < 2 {
		return
	}
	dash, strokeW := ` stroke-dasharray="5,3"`, 1.5
	if isGecaso(name) {
		dash, strokeW = "", 2.5
	}
	d.f(`<polyline points="%s" fill="none" stroke="%s" stroke-width="%.1f"%s/>`+"\n", strings.Join(pts, " "), colour(name), strokeW, dash)
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
