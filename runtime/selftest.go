package runtime

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
func (p *processor) selfTest(ctx context.Context) error {
	if _, ok := slices.BinarySearch(p.mod.Exports, abi.ExportSelfTest); !ok {
		return nil
	}
	in, err := p.pool.Get(ctx)
	if err != nil {
		return fmt.Errorf("self-test: start an instance: %w", err)
	}
	if err := in.SelfTest(ctx, p.startTimeout); err != nil {
		p.pool.Discard(in)
		return err
	}
	p.pool.Put(in)
	return nil
}
