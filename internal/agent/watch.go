package agent

import (
	"context"

	"github.com/empirefederation/neuron/internal/watch"
	"github.com/empirefederation/neuron/runtime"
)

// startWatch starts following the plugins directory when cfg.PluginsWatch
// is set: a file added, changed or removed there is loaded, swapped or
// unloaded by the runtime's Sync, without a restart. It runs before the
// first load, so that no change made while the neuron starts is missed;
// the runtime serializes the two. See docs/design.md, "How does the neuron
// notice a new processor file?".
func (a *Agent) startWatch(ctx context.Context) error {
	if !a.cfg.PluginsWatch {
		a.log.Info("plugins directory not watched (pluginsWatch is false): changes to it take effect on a command or a restart")
		return nil
	}
	w, err := watch.Start(context.WithoutCancel(ctx), watch.Options{
		Dir: a.cfg.PluginsDir, Quiet: a.cfg.PluginsWatchQuiet, Sync: a.syncPlugins, Logger: a.log,
	})
	if err != nil {
		return err
	}
	a.watcher = w
	return nil
}

// syncPlugins is the watcher's Sync: the runtime serves what the directory
// holds now, and the federation hears of a change in what it serves.
func (a *Agent) syncPlugins(ctx context.Context) error {
	c, err := a.rt.Sync(ctx)
	if err != nil {
		return err
	}
	if servingChanged(c) {
		if l := a.fed.Load(); l != nil {
			l.RegistrationChanged()
		}
	}
	return nil
}

// servingChanged reports whether c changed what the neuron serves, and so
// possibly its registration; a rejected file changes nothing.
func servingChanged(c runtime.Changes) bool {
	return len(c.Loaded)+len(c.Swapped)+len(c.Unloaded) > 0
}

// stopWatch stops following the plugins directory, waiting for a sync in
// progress (whose context ends): no swap while shutting down.
func (a *Agent) stopWatch(context.Context) error {
	if a.watcher != nil {
		a.watcher.Stop()
	}
	return nil
}

// servingEvents are the runtime events after which the processors served,
// and so the registration, may differ.
var servingEvents = map[string]bool{
	runtime.EventPluginLoaded:     true,
	runtime.EventPluginSwapped:    true,
	runtime.EventPluginUnloaded:   true,
	runtime.EventPluginRolledBack: true,
}
