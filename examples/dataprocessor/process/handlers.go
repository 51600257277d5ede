package process

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/empirefederation/neuron/sdk"
)

// Name is the processor's name in its manifest.
const Name = "data-processor"

// Config is the part of the processor's configuration it reads. The host
// passes the neuron's flat config with the processor's own settings
// (plugins.data-processor) laid over it.
type Config struct {
	// BatchSize is the most records one batch may hold; larger batches get
	// 413. Zero or less means DefaultBatchSize.
	BatchSize int `json:"batchSize"`
	// EnableDebugMode logs every batch at debug level with its details.
	EnableDebugMode bool `json:"enableDebugMode"`
	// MaxDetails bounds the invalid and duplicate lists of 1.1.0's answer.
	MaxDetails int `json:"maxDetails"`
}

// Defaults of Config.
const (
	DefaultBatchSize  = 1000
	DefaultMaxDetails = 100
)

// Answer is the body of a successful POST /process.
type Answer struct {
	Result
	Version        string  `json:"version"`
	ProcessingTime float64 `json:"processingTime"` // milliseconds
}

// stats is what this instance has handled, for GET /status. Instances are
// pooled and discarded at will, so these are per-instance numbers.
type stats struct {
	Batches     int       `json:"batchesProcessed"`
	Records     int       `json:"recordsProcessed"`
	Duplicates  int       `json:"duplicatesFound"`
	Invalid     int       `json:"invalidRecords"`
	Rejected    int       `json:"batchesRejected"`
	LastBatchID string    `json:"lastBatchId,omitempty"`
	LastBatchAt time.Time `json:"lastBatchAt,omitzero"`
	StartedAt   time.Time `json:"startedAt"`
}

// processor is the state of one instance.
type processor struct {
	opts  Options
	stats stats
}

// Register declares the processor with the behaviour of opts. Call it from
// the init function of a version's main package.
func Register(opts Options) {
	p := &processor{opts: opts, stats: stats{StartedAt: time.Now().UTC()}}
	sdk.Register(sdk.Info{
		Name:         Name,
		Version:      opts.Version,
		Description:  "Validates and deduplicates batches of customer records",
		Capabilities: []string{"data_processing", "batch_operations", "real_time_processing"},
		Settings:     settings(opts),
	})
	sdk.Handle("POST /process", "Process customer data batch", p.process)
	sdk.Handle("GET /status", "Get processing status", p.status)
	sdk.SelfTest(func() error { return SelfTest(opts) })
}

// settings declares the keys of Config a version reads, with their
// defaults: the neuron shows them (neuron plugin inspect) and lets a
// federation set them (plugins.data-processor.maxDetails) with no
// declaration in its config file.
func settings(opts Options) map[string]any {
	s := map[string]any{"batchSize": DefaultBatchSize, "enableDebugMode": false}
	if opts.Details {
		s["maxDetails"] = DefaultMaxDetails
	}
	return s
}

// config reads the configuration; the host lays it over the declared
// defaults, and a value the operator or the federation set to zero or less
// falls back to the default.
func config() (Config, error) {
	c := Config{}
	err := sdk.Config(&c)
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.MaxDetails <= 0 {
		c.MaxDetails = DefaultMaxDetails
	}
	return c, err
}

func (p *processor) process(r *sdk.Request) sdk.Response {
	start := time.Now()
	cfg, err := config()
	if err != nil {
		return sdk.ErrorCode(500, "config_invalid", err.Error())
	}
	b, fail := p.decode(r, cfg)
	if fail.Status != 0 {
		p.stats.Rejected++
		return fail
	}
	res := Process(b, p.opts, cfg.MaxDetails)
	ms := math.Round(float64(time.Since(start).Microseconds())) / 1000
	p.record(res, cfg, ms)
	return sdk.JSON(200, Answer{Result: res, Version: p.opts.Version, ProcessingTime: ms})
}

// decode reads and checks a batch, or returns the error response.
func (p *processor) decode(r *sdk.Request, cfg Config) (Batch, sdk.Response) {
	var b Batch
	switch err := r.DecodeJSON(&b); {
	case err != nil:
		return b, sdk.Error(400, err.Error())
	case b.BatchID == "":
		return b, sdk.Error(400, `"batchId" is required`)
	case b.Records == nil:
		return b, sdk.Error(400, `"records" must be an array`)
	case len(b.Records) > cfg.BatchSize:
		return b, sdk.ErrorCode(413, "batch_too_large", "batch "+b.BatchID+" has "+
			strconv.Itoa(len(b.Records))+" records; the limit (batchSize) is "+strconv.Itoa(cfg.BatchSize))
	}
	return b, sdk.Response{}
}

// record counts a processed batch in the instance's stats, the neuron's
// custom metrics and an analytics event.
func (p *processor) record(res Result, cfg Config, ms float64) {
	s := &p.stats
	s.Batches++
	s.Records += res.RecordsProcessed
	s.Duplicates += res.DuplicatesFound
	s.Invalid += res.InvalidRecords
	s.LastBatchID, s.LastBatchAt = res.BatchID, time.Now().UTC()

	sdk.Count("recordsProcessed", float64(res.RecordsProcessed))
	sdk.Count("batchesCompleted", 1)
	sdk.Count("duplicatesFound", float64(res.DuplicatesFound))
	err := sdk.Emit("batch_completed", map[string]any{
		"batchId": res.BatchID, "recordCount": res.RecordsReceived, "processingTime": ms,
	})
	if err != nil {
		sdk.LogWarn("emit batch_completed", "batchId", res.BatchID, "error", err)
	}
	if cfg.EnableDebugMode {
		sdk.LogDebug("batch processed", "batchId", res.BatchID, "received", res.RecordsReceived,
			"processed", res.RecordsProcessed, "duplicates", res.DuplicatesFound,
			"invalid", res.InvalidRecords, "ms", ms)
	}
}

func (p *processor) status(*sdk.Request) sdk.Response {
	cfg, err := config()
	if err != nil {
		return sdk.ErrorCode(500, "config_invalid", err.Error())
	}
	return sdk.JSON(200, map[string]any{
		"processor": Name,
		"version":   p.opts.Version,
		"status":    "ready",
		"features":  map[string]bool{"dedupByEmail": p.opts.DedupEmail, "details": p.opts.Details},
		"config":    cfg,
		"instance":  p.stats,
	})
}

// SelfTest processes a known batch and checks the counts opts should give.
// The host runs it before a version takes traffic.
func SelfTest(opts Options) error {
	b := Batch{BatchID: "self-test", Records: []json.RawMessage{
		json.RawMessage(`{"id": 1, "email": "a@example.com"}`),
		json.RawMessage(`{"id": 1, "email": "a@example.com"}`),
		json.RawMessage(`{"id": 2, "email": "not an email"}`),
		json.RawMessage(`{"id": "3", "email": " A@Example.com "}`),
	}}
	want := Result{BatchID: "self-test", RecordsReceived: 4, RecordsProcessed: 2, DuplicatesFound: 1, InvalidRecords: 1}
	if opts.DedupEmail {
		want.RecordsProcessed, want.DuplicatesFound = 1, 2
	}
	got := Process(b, opts, 0)
	if got.RecordsProcessed != want.RecordsProcessed || got.DuplicatesFound != want.DuplicatesFound ||
		got.InvalidRecords != want.InvalidRecords {
		return errors.New("self test: processed/duplicates/invalid = " + counts(got) + ", want " + counts(want))
	}
	return nil
}

func counts(r Result) string {
	return strconv.Itoa(r.RecordsProcessed) + "/" + strconv.Itoa(r.DuplicatesFound) + "/" + strconv.Itoa(r.InvalidRecords)
}
