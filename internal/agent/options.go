package agent

import (
	"github.com/empirefederation/neuron/internal/config"
	"github.com/empirefederation/neuron/runtime"
)

// RuntimeOptions are the runtime options cfg configures: what `neuron run`
// loads its processors with, and what `neuron plugin validate` checks a
// file with, so that the two decide alike. The caller adds what is not
// configuration (Logger, Registerer, Events). It lives here, not in
// package config, so that config does not import the runtime (and wazero).
func RuntimeOptions(cfg *config.Config) runtime.Options {
	return runtime.Options{
		PluginsDir: cfg.PluginsDir, SourcesDir: SourcesDir(cfg), DataDir: cfg.DataDir,
		Limits: cfg.Limits, PluginLimits: cfg.PluginLimits, MaxLimits: cfg.MaxLimits,
		Settings: cfg.Settings, Plugins: cfg.Plugins, AllowPermissions: cfg.AllowPermissions,
		DrainTimeout: cfg.DrainTimeout, KeepVersions: cfg.KeepVersions,
		RequestBodyBudget: cfg.RequestBodyBudget, RequestBodyTimeout: cfg.RequestBodyTimeout,
		RateLimits: RateLimits(cfg), Trust: cfg.Trust,
	}
}

// RateLimits are the rate limits cfg configures (rateLimit, rateBurst,
// rateLimits), before the settings keys of the same names lay over them.
func RateLimits(cfg *config.Config) runtime.RateLimits {
	return runtime.RateLimits{Caller: cfg.RateLimit, CallerBurst: cfg.RateBurst, Plugins: cfg.RateLimits}
}
