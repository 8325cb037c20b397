package main

import (
	"bufio"
	"context"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// get fetches url and returns the status, the X-Gecaso-Source header and
// the body.
func get(t *testing.T, url string) (status int, source, body string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("X-Gecaso-Source"), string(b)
}

// scrape reads /metrics in Prometheus's text format.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("/metrics Content-Type = %q, want text/plain", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics is not in the text format: %v", err)
	}
	return fams
}

// series maps each series of the family name, written as its labels
// "k=v,..." without those every gecaso series shares, to its value (a
// histogram's: its count).
func series(t *testing.T, fams map[string]*dto.MetricFamily, name string) map[string]float64 {
	t.Helper()
	fam, ok := fams[name]
	if !ok {
		t.Fatalf("/metrics has no %s; it has %v", name, slices.Sorted(maps.Keys(fams)))
	}
	out := make(map[string]float64)
	for _, m := range fam.GetMetric() {
		var labels []string
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "gecaso_function_name", "gecaso_storage_type":
			default:
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
		}
		var v float64
		switch {
		case m.Counter != nil:
			v = m.Counter.GetValue()
		case m.Gauge != nil:
			v = m.Gauge.GetValue()
		case m.Histogram != nil:
			v = float64(m.Histogram.GetSampleCount())
		default:
			t.Fatalf("%s: unexpected type %v", name, fam.GetType())
		}
		out[strings.Join(labels, ",")] = v
	}
	return out
}

func TestService_metrics(t *testing.T) {
	svc, err := newService(0)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	srv := httptest.NewServer(svc)
	defer srv.Close()

	tests := []struct {
		give                     string
		wantStatus               int
		wantSource, wantBodyPart string
	}{
		{give: "12", wantStatus: 200, wantSource: "run", wantBodyPart: "144"},
		{give: "12", wantStatus: 200, wantSource: "near", wantBodyPart: "144"},
		{give: "7", wantStatus: 200, wantSource: "run", wantBodyPart: "49"},
		{give: "12", wantStatus: 200, wantSource: "near", wantBodyPart: "144"},
		{give: "-3", wantStatus: 422, wantBodyPart: "negative"},
		{give: "x", wantStatus: 400, wantBodyPart: "integer"},
	}
	for _, tt := range tests {
		status, source, body := get(t, srv.URL+"/square?n="+tt.give)
		if status != tt.wantStatus || source != tt.wantSource || !strings.Contains(body, tt.wantBodyPart) {
			t.Errorf("/square?n=%s = %d, source %q, body %q; want %d, source %q, a body with %q",
				tt.give, status, source, body, tt.wantStatus, tt.wantSource, tt.wantBodyPart)
		}
	}

	fams := scrape(t, srv.URL+"/metrics")
	checks := []struct {
		name string
		want map[string]float64
	}{
		{"gecaso_calls_total", map[string]float64{
			"gecaso_outcome=hit": 0, "gecaso_outcome=near_hit": 2, "gecaso_outcome=miss": 3, "gecaso_outcome=shared": 0,
		}},
		{"gecaso_runs_total", map[string]float64{"": 3}},
		{"gecaso_run_errors_total", map[string]float64{"": 1}},
		{"gecaso_call_duration_seconds", map[string]float64{
			"gecaso_outcome=miss":                                2,
			"gecaso_outcome=near_hit":                            2,
			"error_type=*errors.errorString,gecaso_outcome=miss": 1,
		}},
		{"gecaso_storage_entries", map[string]float64{"": 2}},
	}
	for _, c := range checks {
		if diff := cmp.Diff(c.want, series(t, fams, c.name)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
	io := series(t, fams, "gecaso_storage_io_bytes_total")
	if io["gecaso_io_direction=write"] == 0 {
		t.Errorf("gecaso_storage_io_bytes_total = %v: want the two results written", io)
	}
	for _, name := range []string{"gecaso_run_time_seconds_total", "gecaso_storage_errors_total", "gecaso_storage_usage_bytes", "gecaso_storage_lookups_total"} {
		series(t, fams, name) // present
	}
}

// run prints where it listens, serves there, and returns when its context
// ends.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-delay", "0s"}, pw) }()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	addr := regexp.MustCompile(`http://127\.0\.0\.1:\d+`).FindString(line)
	if addr == "" {
		t.Fatalf("run printed %q, want the address it listens on", line)
	}
	if status, _, body := get(t, addr+"/square?n=3"); status != 200 || body != "9\n" {
		t.Errorf("/square?n=3 = %d %q, want 200 \"9\\n\"", status, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run returned %v after its context ended, want nil", err)
	}
	pw.Close()
}
