package runtime

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tetratelabs/wazero/api"

	"github.com/empirefederation/neuron/sdk/abi"
)

// maxSelfTestMessage bounds the failure message read from a guest's
// self-test, so that a hostile length cannot flood the log.
const maxSelfTestMessage = 1 << 10

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
	if err := in.selfTest(ctx, p.startTimeout); err != nil {
		p.pool.Discard(in)
		return err
	}
	p.pool.Put(in)
	return nil
}

// selfTest calls the instance's self-test export under timeout, until ctx
// ends, and returns the guest's message when it reports a failure.
func (in *instance) selfTest(ctx context.Context, timeout time.Duration) error {
	fn := in.mod.ExportedFunction(abi.ExportSelfTest)
	if fn == nil {
		return nil
	}
	if def := fn.Definition(); len(def.ParamTypes()) != 0 || !slices.Equal(def.ResultTypes(), []api.ValueType{api.ValueTypeI64}) {
		return fmt.Errorf("%s must be () -> i64", abi.ExportSelfTest)
	}
	in.stderr.Reset()
	stack := []uint64{0}
	if err := in.ctx.callWithin(ctx, fn, stack, timeout); err != nil {
		in.spent = true
		return fmt.Errorf("self-test failed: %s: %w", abi.ExportSelfTest, withStderr(err, in.stderr.String()))
	}
	if stack[0] == 0 {
		return nil
	}
	ptr, n := abi.Unpack(stack[0])
	b, ok := in.mem.Read(ptr, min(n, maxSelfTestMessage))
	if !ok {
		return fmt.Errorf("self-test failed, and its message (%d bytes at %d) is outside guest memory", n, ptr)
	}
	msg := strings.ToValidUTF8(strings.TrimSpace(string(b)), string(utf8.RuneError))
	if msg == "" {
		return errors.New("self-test failed without a message")
	}
	return fmt.Errorf("self-test failed: %s", msg)
}
