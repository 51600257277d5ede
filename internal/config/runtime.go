package config

import "github.com/empirefederation/neuron/runtime"

// RuntimeOptions are the runtime options c configures: what `neuron run`
// loads its processors with, and what `neuron plugin validate` checks a
// file with, so that the two decide alike. The caller adds what is not
// configuration (Logger, Registerer, Events).
func (c *Config) RuntimeOptions() runtime.Options {
	return runtime.Options{
		PluginsDir: c.PluginsDir, DataDir: c.DataDir,
		Limits: c.Limits, PluginLimits: c.PluginLimits, MaxLimits: c.MaxLimits,
		Settings: c.Settings, Plugins: c.Plugins, AllowPermissions: c.AllowPermissions,
		DrainTimeout: c.DrainTimeout, KeepVersions: c.KeepVersions,
		RequestBodyBudget: c.RequestBodyBudget, RequestBodyTimeout: c.RequestBodyTimeout,
	}
}
