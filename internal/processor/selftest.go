package processor

import (
	"context"
	"fmt"
	"slices"

	"github.com/empirefederation/neuron/sdk/abi"
)

// selfTest runs the module's neuron_self_test export, when it has one, on
// an instance of the pool (created if the pool's minimum is zero), before
// the version may serve. The instance goes back to the pool when the test
// passes and is discarded otherwise. A module without the export passes.
// See docs/abi.md, "Exports".
func (p *Version) selfTest(ctx context.Context) error {
	if _, ok := slices.BinarySearch(p.Mod.Exports, abi.ExportSelfTest); !ok {
		return nil
	}
	in, err := p.Pool.Get(ctx)
	if err != nil {
		return fmt.Errorf("self-test: start an instance: %w", err)
	}
	if err := in.SelfTest(ctx, p.startTimeout); err != nil {
		p.Pool.Discard(in)
		return err
	}
	p.Pool.Put(in)
	return nil
}
