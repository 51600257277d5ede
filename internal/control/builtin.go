package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// Workers is what restart_worker needs of the runtime.
type Workers interface {
	RestartWorkers(ctx context.Context, sel string, graceful bool) (int, error)
}

// Builtins are the commands every neuron runs besides set_log_level, which
// the Controller runs itself (it owns the log level):
//
//   - restart_worker {"workerId": "all" | NAME | NAME@VERSION | NAME@VERSION#N, "graceful": true}:
//     replaces processor instances; graceful (the default) lets in-flight
//     calls finish first.
//   - flush_analytics {}: reports the analytics gathered so far now.
func Builtins(workers Workers, flush func(context.Context) error) map[string]Command {
	return map[string]Command{
		"restart_worker": {
			Check: func(data json.RawMessage) error { _, err := restartArgs(data); return err },
			Run: func(ctx context.Context, data json.RawMessage) (any, error) {
				a, _ := restartArgs(data)
				n, err := workers.RestartWorkers(ctx, a.WorkerID, *a.Graceful)
				return map[string]any{"restarted": n, "workerId": a.WorkerID, "graceful": *a.Graceful}, err
			},
		},
		"flush_analytics": {
			Check: func(data json.RawMessage) error { return decodeStrict(data, &struct{}{}) },
			Run: func(ctx context.Context, _ json.RawMessage) (any, error) {
				return nil, flush(ctx)
			},
		},
	}
}

// setLogLevel is set_log_level {"level": "debug" | "info" | "warn" | "error"}:
// the level from now on, and the one a config without enableDebugMode
// returns to.
func (c *Controller) setLogLevel() Command {
	return Command{
		Check: func(data json.RawMessage) error { _, err := levelArg(data); return err },
		Run: func(_ context.Context, data json.RawMessage) (any, error) {
			l, _ := levelArg(data)
			c.mu.Lock() // commands run apart from Apply: baseLevel is c.mu's
			defer c.mu.Unlock()
			c.baseLevel = l
			if c.opts.Level != nil {
				c.opts.Level.Set(l)
			}
			return map[string]string{"level": strings.ToLower(l.String())}, nil
		},
	}
}

type restart struct {
	WorkerID string `json:"workerId"`
	Graceful *bool  `json:"graceful"`
}

func restartArgs(data json.RawMessage) (restart, error) {
	var a restart
	if err := decodeStrict(data, &a); err != nil {
		return a, err
	}
	if a.WorkerID == "" {
		a.WorkerID = "all"
	}
	if a.Graceful == nil {
		t := true
		a.Graceful = &t
	}
	return a, nil
}

func levelArg(data json.RawMessage) (slog.Level, error) {
	var a struct {
		Level string `json:"level"`
	}
	if err := decodeStrict(data, &a); err != nil {
		return 0, err
	}
	switch strings.ToLower(a.Level) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	case "":
		return 0, errors.New(`data.level is required: "debug", "info", "warn" or "error"`)
	}
	return 0, fmt.Errorf(`data.level %q: want "debug", "info", "warn" or "error"`, a.Level)
}
