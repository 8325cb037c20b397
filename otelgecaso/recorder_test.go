package otelgecaso_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/embedded"
	mnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tembedded "go.opentelemetry.io/otel/trace/embedded"
	tnoop "go.opentelemetry.io/otel/trace/noop"
)

// meterProvider is a MeterProvider that writes down the instruments made,
// the callbacks registered and the histogram records, and runs the
// callbacks on collect: a stand-in for an SDK, which the library's module
// does not require.
type meterProvider struct {
	embedded.MeterProvider
	m *meter
}

func newMeterProvider() *meterProvider {
	return &meterProvider{m: &meter{instruments: map[string]desc{}, callbacks: map[int]metric.Callback{}}}
}

func (p *meterProvider) Meter(name string, _ ...metric.MeterOption) metric.Meter {
	p.m.mu.Lock()
	defer p.m.mu.Unlock()
	p.m.scopes = append(p.m.scopes, name)
	return p.m
}

// desc describes an instrument.
type desc struct{ Kind, Unit, Description string }

type meter struct {
	mnoop.Meter // the kinds of instrument otelgecaso does not use

	mu           sync.Mutex // guards the fields below
	scopes       []string
	instruments  map[string]desc
	callbacks    map[int]metric.Callback
	next         int
	unregistered int
	records      []point // histogram records
}

// point is one measurement: an observation or a histogram record.
type point struct {
	Name  string
	Attrs map[string]string
	Value float64
}

// named is implemented by the instruments of meter.
type named interface{ instrumentName() string }

type instrument struct{ name string }

func (i instrument) instrumentName() string { return i.name }

type int64Counter struct {
	mnoop.Int64ObservableCounter
	instrument
}

type int64UpDown struct {
	mnoop.Int64ObservableUpDownCounter
	instrument
}

type float64Counter struct {
	mnoop.Float64ObservableCounter
	instrument
}

type histogram struct {
	mnoop.Float64Histogram
	instrument
	m *meter
}

func (m *meter) add(name, kind, unit, description string) instrument {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.instruments[name] = desc{Kind: kind, Unit: unit, Description: description}
	return instrument{name}
}

func (m *meter) Int64ObservableCounter(name string, opts ...metric.Int64ObservableCounterOption) (metric.Int64ObservableCounter, error) {
	c := metric.NewInt64ObservableCounterConfig(opts...)
	return int64Counter{instrument: m.add(name, "Int64ObservableCounter", c.Unit(), c.Description())}, nil
}

func (m *meter) Int64ObservableUpDownCounter(name string, opts ...metric.Int64ObservableUpDownCounterOption) (metric.Int64ObservableUpDownCounter, error) {
	c := metric.NewInt64ObservableUpDownCounterConfig(opts...)
	return int64UpDown{instrument: m.add(name, "Int64ObservableUpDownCounter", c.Unit(), c.Description())}, nil
}

func (m *meter) Float64ObservableCounter(name string, opts ...metric.Float64ObservableCounterOption) (metric.Float64ObservableCounter, error) {
	c := metric.NewFloat64ObservableCounterConfig(opts...)
	return float64Counter{instrument: m.add(name, "Float64ObservableCounter", c.Unit(), c.Description())}, nil
}

func (m *meter) Float64Histogram(name string, opts ...metric.Float64HistogramOption) (metric.Float64Histogram, error) {
	c := metric.NewFloat64HistogramConfig(opts...)
	return histogram{instrument: m.add(name, "Float64Histogram", c.Unit(), c.Description()), m: m}, nil
}

func (h histogram) Enabled(context.Context) bool { return true }

func (h histogram) Record(_ context.Context, v float64, opts ...metric.RecordOption) {
	set := metric.NewRecordConfig(opts).Attributes()
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	h.m.records = append(h.m.records, point{Name: h.name, Attrs: attrMap(&set), Value: v})
}

type registration struct {
	embedded.Registration
	m  *meter
	id int
}

func (r registration) Unregister() error {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	if _, ok := r.m.callbacks[r.id]; ok {
		delete(r.m.callbacks, r.id)
		r.m.unregistered++
	}
	return nil
}

func (m *meter) RegisterCallback(f metric.Callback, _ ...metric.Observable) (metric.Registration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.next++
	m.callbacks[m.next] = f
	return registration{m: m, id: m.next}, nil
}

// observer collects what callbacks observe.
type observer struct {
	embedded.Observer
	points []point
}

func (o *observer) ObserveInt64(in metric.Int64Observable, v int64, opts ...metric.ObserveOption) {
	o.observe(in, float64(v), opts)
}

func (o *observer) ObserveFloat64(in metric.Float64Observable, v float64, opts ...metric.ObserveOption) {
	o.observe(in, v, opts)
}

func (o *observer) observe(in any, v float64, opts []metric.ObserveOption) {
	set := metric.NewObserveConfig(opts).Attributes()
	o.points = append(o.points, point{Name: in.(named).instrumentName(), Attrs: attrMap(&set), Value: v})
}

// collect runs every registered callback and returns what they observed.
func (m *meter) collect() []point {
	m.mu.Lock()
	cbs := slices.Collect(maps.Values(m.callbacks))
	m.mu.Unlock()
	var o observer
	for _, cb := range cbs {
		if err := cb(context.Background(), &o); err != nil {
			panic(err)
		}
	}
	return o.points
}

func (m *meter) histogramRecords() []point {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.records)
}

func attrMap(s *attribute.Set) map[string]string {
	m := make(map[string]string, s.Len())
	for _, kv := range s.ToSlice() {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	return m
}

// summary maps each point to "name{k=v,...}" (without the keys in drop,
// the attributes every point of a Func shares), summing equal ones.
func summary(points []point, drop ...string) map[string]float64 {
	out := make(map[string]float64)
	for _, p := range points {
		out[seriesName(p, drop)] += p.Value
	}
	return out
}

// counts maps each histogram record's series to the number of records.
func counts(points []point, drop ...string) map[string]int {
	out := make(map[string]int)
	for _, p := range points {
		out[seriesName(p, drop)]++
	}
	return out
}

func seriesName(p point, drop []string) string {
	var kvs []string
	for _, k := range slices.Sorted(maps.Keys(p.Attrs)) {
		if !slices.Contains(drop, k) {
			kvs = append(kvs, k+"="+p.Attrs[k])
		}
	}
	return fmt.Sprintf("%s{%s}", p.Name, strings.Join(kvs, ","))
}

// tracerProvider is a TracerProvider that writes down every span.
type tracerProvider struct {
	tembedded.TracerProvider

	mu      sync.Mutex // guards the fields below
	spans   []*span    // in the order they ended
	scopes  []string
	started int
}

func (p *tracerProvider) Tracer(name string, _ ...trace.TracerOption) trace.Tracer {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.scopes = append(p.scopes, name)
	return tracer{p: p}
}

type tracer struct {
	tembedded.Tracer
	p *tracerProvider
}

func (t tracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	c := trace.NewSpanStartConfig(opts...)
	s := &span{p: t.p, name: name, start: c.Timestamp(), attrs: attribute.NewSet(c.Attributes()...)}
	t.p.mu.Lock()
	t.p.started++
	s.sc = trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{byte(t.p.started >> 8), byte(t.p.started)},
	})
	t.p.mu.Unlock()
	s.parent, _ = trace.SpanFromContext(ctx).(*span)
	return trace.ContextWithSpan(ctx, s), s
}

type span struct {
	tnoop.Span
	p      *tracerProvider
	name   string
	parent *span
	start  time.Time
	attrs  attribute.Set
	sc     trace.SpanContext

	// Set by the span's owner before End.
	status codes.Code
	desc   string
	errs   []error
}

func (s *span) IsRecording() bool { return true }

func (s *span) SpanContext() trace.SpanContext { return s.sc }

func (s *span) SetStatus(c codes.Code, d string) { s.status, s.desc = c, d }

func (s *span) RecordError(err error, _ ...trace.EventOption) { s.errs = append(s.errs, err) }

func (s *span) End(...trace.SpanEndOption) {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	s.p.spans = append(s.p.spans, s)
}

// snapshot returns the spans ended so far.
func (p *tracerProvider) snapshot() []*span {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.spans)
}

// ended returns the spans ended so far, as "parent>name", with " error:
// desc" for those ended with an error status.
func (p *tracerProvider) ended() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, s := range p.spans {
		parent := "-"
		if s.parent != nil {
			parent = s.parent.name
		}
		line := parent + ">" + s.name
		if s.status == codes.Error {
			line += " error: " + s.desc
		}
		out = append(out, line)
	}
	return out
}
