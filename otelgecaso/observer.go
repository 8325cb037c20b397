package otelgecaso

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"
	"weak"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	mnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tnoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/gecaso/gecaso"
)

// ScopeName is the instrumentation scope of the meters and tracers that
// otelgecaso gets from its providers.
const ScopeName = "github.com/gecaso/gecaso/otelgecaso"

// The attribute keys otelgecaso sets, for dashboards and queries. In
// Prometheus the dots become underscores (gecaso_function_name).
const (
	// KeyFunctionName is the function's name ([gecaso.WithName], or its
	// qualified Go name), on every measurement and span of a Func.
	KeyFunctionName = attribute.Key("gecaso.function.name")
	// KeyFunctionVersion is the function's version ([gecaso.WithVersion]);
	// absent when it has none.
	KeyFunctionVersion = attribute.Key("gecaso.function.version")
	// KeyStorageType names the storage's type: "memory", "lru", "badger",
	// "redis", "tiered", or the Go type of a storage of another package.
	KeyStorageType = attribute.Key("gecaso.storage.type")
	// KeyOutcome says how a call was answered: "hit" (from the storage),
	// "near_hit" (from the near cache), "miss" (the call ran the
	// function), "shared" (it waited for a run another call led); and, on
	// gecaso.call.duration only, "stale" (a stale value was served) and
	// "canceled" (the caller's context ended first).
	KeyOutcome = attribute.Key("gecaso.outcome")
	// KeyOperation is the storage operation that failed: "get", "set",
	// "remove", "lock", "unlock", "subscribe", or "encode" (a result that
	// could not be encoded, so was not stored).
	KeyOperation = attribute.Key("gecaso.storage.operation")
	// KeyDirection is "read" or "write", on gecaso.storage.io.
	KeyDirection = attribute.Key("gecaso.io.direction")
	// KeyErrorType is the Go type of the error a call returned (or
	// "context.Canceled", "context.DeadlineExceeded"), on
	// gecaso.call.duration; absent when the call succeeded. It follows
	// OpenTelemetry's error.type convention.
	KeyErrorType = attribute.Key("error.type")
)

// Outcomes, in the order of the arrays indexed by them.
type outcome uint8

const (
	outHit outcome = iota
	outNearHit
	outMiss
	outShared
	outStale
	outCanceled
	numOutcomes

	numCallOutcomes = outShared + 1 // the outcomes gecaso.calls partitions calls into
)

var outcomeNames = [numOutcomes]string{"hit", "near_hit", "miss", "shared", "stale", "canceled"}

// The storage operations of [gecaso.StorageErrorCounts], in the order
// storageErrors reads them.
var operations = [...]string{"get", "set", "remove", "lock", "unlock", "subscribe", "encode"}

func storageErrors(c gecaso.StorageErrorCounts) [len(operations)]uint64 {
	return [...]uint64{c.Get, c.Set, c.Remove, c.Lock, c.Unlock, c.Subscribe, c.Encode}
}

// durationBuckets are the bounds, in seconds, of gecaso.call.duration: from
// the microsecond of a near-cache hit to the seconds of a slow function.
// An SDK View overrides them.
var durationBuckets = []float64{
	1e-6, 5e-6, 2.5e-5, 1e-4, 2.5e-4, 1e-3, 2.5e-3, 0.01, 0.025, 0.1, 0.25, 1, 2.5, 10,
}

// Observer reports what [gecaso.Func]s do to OpenTelemetry: a
// [gecaso.Observer] made by [New] and passed to [gecaso.WithObserver]. One
// Observer may serve any number of Funcs; it is safe for concurrent use.
//
// For each Func it reports, read from [gecaso.Func.Stats] in one callback
// when the metrics are collected (all cumulative counters):
//
//	gecaso.calls          {call}     calls by gecaso.outcome: hit, near_hit, miss, shared
//	gecaso.runs           {run}      runs of the function, background refreshes included
//	gecaso.run.errors     {run}      runs that returned an error or panicked
//	gecaso.run.time       s          time spent in the function over all runs
//	gecaso.stale_hits     {call}     calls answered with a stale value
//	gecaso.refreshes      {refresh}  background refreshes
//	gecaso.storage.errors {error}    storage failures calls survived, by gecaso.storage.operation
//	gecaso.decode.errors  {entry}    entries that did not decode (each was a miss)
//	gecaso.lock.waits     {run}      runs that waited for another process's lock
//	gecaso.storage.io     By         bytes of entries read and written, by gecaso.io.direction
//
// and, recorded at the end of every call unless [WithCallDuration] turns it
// off, the histogram
//
//	gecaso.call.duration  s          call latency by gecaso.outcome: hit, near_hit, miss, shared,
//	                                 stale, canceled; and error.type when the call failed
//
// each labelled with [KeyFunctionName], [KeyFunctionVersion],
// [KeyStorageType] and the [WithAttributes] attributes. A Prometheus
// exporter shows them as gecaso_calls_total, gecaso_run_time_seconds_total,
// gecaso_call_duration_seconds_bucket and so on.
//
// The spans are those of a miss, children of the span in the caller's
// context: "gecaso.get" (the storage read that missed), "gecaso.run" (the
// function, whose context carries it) and "gecaso.set" (the store, which
// ends with an error status when the result was not stored). A hit makes no
// span unless [WithSpanHits] asks for them. A call whose context carries
// no span (neither a local one nor a remote parent) makes none: the steps
// of a call are parts of its caller's trace, not traces of their own.
//
// The metrics of a Func stop when the Func is garbage collected: the
// callback holds it weakly and is unregistered then. (Except with
// [WithCallDuration](false) and a noop TracerProvider: the Func then holds
// nothing of the Observer, and the callback keeps the Func for good.)
//
// WARNING: Funcs with the same name, version and storage type report the
// same series; give them distinct names (they share entries too).
type Observer struct {
	cfg    config
	tracer trace.Tracer // nil: no spans
	inst   *instruments // nil: no metrics
	meter  metric.Meter
}

var _ gecaso.Observer = (*Observer)(nil)

// instruments are an Observer's instruments, shared by its Funcs.
type instruments struct {
	calls, runs, runErrors, staleHits, refreshes metric.Int64ObservableCounter
	storageErrors, decodeErrors, lockWaits, io   metric.Int64ObservableCounter
	runTime                                      metric.Float64ObservableCounter
	callDuration                                 metric.Float64Histogram
}

func (in *instruments) observables() []metric.Observable {
	return []metric.Observable{
		in.calls, in.runs, in.runErrors, in.staleHits, in.refreshes,
		in.storageErrors, in.decodeErrors, in.lockWaits, in.io, in.runTime,
	}
}

// New returns an Observer that reports to the providers of opts (by
// default the global ones). Pass it to [gecaso.WithObserver]:
//
//	square := gecaso.Cached(s, fn, gecaso.WithObserver(otelgecaso.New()))
//
// An instrument the meter cannot create is reported to the OpenTelemetry
// error handler ([otel.Handle]) and left out; New itself never fails.
func New(opts ...Option) *Observer {
	o := &Observer{cfg: newConfig(opts)}
	if _, off := o.cfg.mp.(mnoop.MeterProvider); !off {
		o.meter = o.cfg.mp.Meter(ScopeName)
		o.inst = newInstruments(o.meter)
	}
	if _, off := o.cfg.tp.(tnoop.TracerProvider); !off {
		o.tracer = o.cfg.tp.Tracer(ScopeName)
	}
	return o
}

// newInstruments creates the instruments of an Observer in m. Those that m
// refuses are noop instruments, and the errors go to otel.Handle.
func newInstruments(m metric.Meter) *instruments {
	var errs []error
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		if err != nil {
			errs = append(errs, err)
		}
		if c == nil {
			c = mnoop.Int64ObservableCounter{}
		}
		return c
	}
	in := &instruments{
		calls:         counter("gecaso.calls", "{call}", "Calls answered, by outcome: hit (from the storage), near_hit (from the near cache), miss (ran the function), shared (waited for a run another call led)."),
		runs:          counter("gecaso.runs", "{run}", "Runs of the function, background refreshes included."),
		runErrors:     counter("gecaso.run.errors", "{run}", "Runs of the function that returned an error or panicked."),
		staleHits:     counter("gecaso.stale_hits", "{call}", "Calls answered with a stale value."),
		refreshes:     counter("gecaso.refreshes", "{refresh}", "Background refreshes that ran the function."),
		storageErrors: counter("gecaso.storage.errors", "{error}", "Storage failures that calls survived, by operation."),
		decodeErrors:  counter("gecaso.decode.errors", "{entry}", "Stored entries that did not decode; each was a miss."),
		lockWaits:     counter("gecaso.lock.waits", "{run}", "Runs that waited for the result of another process holding the lock."),
		io:            counter("gecaso.storage.io", "By", "Bytes of entries read from and written to the storage."),
	}
	var err error
	in.runTime, err = m.Float64ObservableCounter("gecaso.run.time", metric.WithUnit("s"),
		metric.WithDescription("Time spent running the function, over all runs."))
	if err != nil {
		errs = append(errs, err)
	}
	if in.runTime == nil {
		in.runTime = mnoop.Float64ObservableCounter{}
	}
	in.callDuration, err = m.Float64Histogram("gecaso.call.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of calls, by outcome."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	if err != nil {
		errs = append(errs, err)
	}
	if in.callDuration == nil {
		in.callDuration = mnoop.Float64Histogram{}
	}
	if len(errs) > 0 {
		otel.Handle(fmt.Errorf("gecaso/otelgecaso: create instruments: %w", errors.Join(errs...)))
	}
	return in
}

// funcObs is what an Observer keeps for one Func. The Func holds it through
// its hooks; the metrics callback holds it weakly.
type funcObs struct {
	stats  func() gecaso.Stats
	tracer trace.Tracer
	hist   metric.Float64Histogram
	attrs  []attribute.KeyValue // the Func's attributes, WithAttributes first

	// Precomputed options, so that a call allocates nothing for them.
	record    [numOutcomes][]metric.RecordOption
	spanStart trace.SpanStartOption
}

// Observe implements [gecaso.Observer]: [gecaso.Cached] calls it once per
// Func. It registers the Func's metrics callback and returns the hooks that
// record call durations and start spans; with a noop provider the matching
// hooks are nil, so they cost nothing.
func (o *Observer) Observe(fi gecaso.FuncInfo) gecaso.Hooks {
	fs := &funcObs{stats: fi.Stats, tracer: o.tracer}
	fs.attrs = append(fs.attrs, o.cfg.attrs...)
	fs.attrs = append(fs.attrs, KeyFunctionName.String(fi.Name), KeyStorageType.String(fi.Storage))
	if fi.Version != "" {
		fs.attrs = append(fs.attrs, KeyFunctionVersion.String(fi.Version))
	}
	var h gecaso.Hooks
	if o.inst != nil {
		if !o.cfg.noCalls {
			fs.hist = o.inst.callDuration
			for i := range numOutcomes {
				set := withAttrs(fs.attrs, KeyOutcome.String(outcomeNames[i]))
				fs.record[i] = []metric.RecordOption{metric.WithAttributeSet(set)}
			}
			h.OnCall = fs.onCall
		}
	}
	if o.tracer != nil {
		fs.spanStart = trace.WithAttributes(fs.attrs...)
		h.StartSpan = fs.startSpan
		h.SpanHits = o.cfg.spanHits
	}
	if o.inst != nil {
		o.register(fs, fi.Name, h.OnCall != nil || h.StartSpan != nil)
	}
	return h
}

// withAttrs returns the set of base and more; more win over base.
func withAttrs(base []attribute.KeyValue, more ...attribute.KeyValue) attribute.Set {
	kvs := make([]attribute.KeyValue, 0, len(base)+len(more))
	kvs = append(append(kvs, base...), more...)
	return attribute.NewSet(kvs...)
}

func observeOpt(base []attribute.KeyValue, more ...attribute.KeyValue) metric.ObserveOption {
	return metric.WithAttributeSet(withAttrs(base, more...))
}

// register registers fs's metrics callback. When the Func holds fs (held:
// through its hooks), the callback holds fs weakly, and is unregistered
// once fs, and so its Func, is collected. Otherwise nothing ties fs to the
// Func's life, and the callback holds the Func's Stats for good.
func (o *Observer) register(fs *funcObs, name string, held bool) {
	stats := func() (gecaso.Stats, bool) { return fs.stats(), true }
	if held {
		wp := weak.Make(fs)
		stats = func() (gecaso.Stats, bool) {
			fs := wp.Value()
			if fs == nil {
				return gecaso.Stats{}, false // the Func is gone; the cleanup unregisters the callback
			}
			return fs.stats(), true
		}
	}
	in := o.inst
	var (
		base     = observeOpt(fs.attrs)
		calls    [numCallOutcomes]metric.ObserveOption
		ops      [len(operations)]metric.ObserveOption
		read     = observeOpt(fs.attrs, KeyDirection.String("read"))
		written  = observeOpt(fs.attrs, KeyDirection.String("write"))
		observed = func(ctx context.Context, ob metric.Observer) error {
			st, ok := stats()
			if !ok {
				return nil
			}
			for i, n := range [numCallOutcomes]uint64{st.Hits - st.NearHits, st.NearHits, st.Misses, st.Shared} {
				ob.ObserveInt64(in.calls, int64(n), calls[i])
			}
			ob.ObserveInt64(in.runs, int64(st.Runs), base)
			ob.ObserveInt64(in.runErrors, int64(st.RunErrors), base)
			ob.ObserveFloat64(in.runTime, st.RunTime.Seconds(), base)
			ob.ObserveInt64(in.staleHits, int64(st.StaleHits), base)
			ob.ObserveInt64(in.refreshes, int64(st.Refreshes), base)
			for i, n := range storageErrors(st.StorageErrors) {
				ob.ObserveInt64(in.storageErrors, int64(n), ops[i])
			}
			ob.ObserveInt64(in.decodeErrors, int64(st.DecodeErrors), base)
			ob.ObserveInt64(in.lockWaits, int64(st.LockWaits), base)
			ob.ObserveInt64(in.io, int64(st.BytesRead), read)
			ob.ObserveInt64(in.io, int64(st.BytesWritten), written)
			return nil
		}
	)
	for i := range calls {
		calls[i] = observeOpt(fs.attrs, KeyOutcome.String(outcomeNames[i]))
	}
	for i, op := range operations {
		ops[i] = observeOpt(fs.attrs, KeyOperation.String(op))
	}
	reg, err := o.meter.RegisterCallback(observed, in.observables()...)
	if err != nil {
		otel.Handle(fmt.Errorf("gecaso/otelgecaso: register the metrics of %s: %w", name, err))
		return
	}
	if reg != nil && held {
		runtime.AddCleanup(fs, unregister, reg)
	}
}

func unregister(reg metric.Registration) {
	if err := reg.Unregister(); err != nil {
		otel.Handle(fmt.Errorf("gecaso/otelgecaso: unregister the metrics of a collected function: %w", err))
	}
}

// onCall records a call's duration by outcome.
func (fs *funcObs) onCall(ctx context.Context, info gecaso.Info, err error, d time.Duration) {
	o := outcomeOf(ctx, info, err)
	if err == nil {
		fs.hist.Record(ctx, d.Seconds(), fs.record[o]...)
		return
	}
	if !fs.hist.Enabled(ctx) {
		return
	}
	set := withAttrs(fs.attrs, KeyOutcome.String(outcomeNames[o]), KeyErrorType.String(errorType(err)))
	fs.hist.Record(ctx, d.Seconds(), metric.WithAttributeSet(set))
}

// outcomeOf classifies a call for gecaso.call.duration.
func outcomeOf(ctx context.Context, info gecaso.Info, err error) outcome {
	switch {
	case err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return outCanceled // Info is not meaningful: the call may have ended before its lookup
	case info.Stale:
		return outStale
	}
	switch info.Source {
	case gecaso.SourceNear:
		return outNearHit
	case gecaso.SourceStorage:
		return outHit
	case gecaso.SourceShared:
		return outShared
	}
	return outMiss
}

// errorType names err's kind, with few distinct values: its Go type, or the
// context sentinel it is.
func errorType(err error) string {
	switch {
	case errors.Is(err, context.Canceled):
		return "context.Canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "context.DeadlineExceeded"
	}
	return fmt.Sprintf("%T", err)
}

// startSpan starts a span for a step of a call, as a child of the span in
// ctx; none when ctx carries no span.
func (fs *funcObs) startSpan(ctx context.Context, name string, start time.Time) (context.Context, func(error)) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, endNothing
	}
	ctx, span := fs.tracer.Start(ctx, name, trace.WithTimestamp(start), fs.spanStart)
	return ctx, func(err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
}

func endNothing(error) {}
