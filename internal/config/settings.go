package config

import (
	"errors"
	"fmt"
	"strings"
)

// Runtime settings: the keys of the flat settings map that the neuron
// itself acts on. Every other key is free: it declares what processors
// read and what a federation update may later set.
const (
	// SettingBatchSize is the batch size processors use; a whole number,
	// at least 1.
	SettingBatchSize = "batchSize"
	// SettingMaxRetries is how often processors retry; a whole number,
	// at least 0.
	SettingMaxRetries = "maxRetries"
	// SettingTimeoutSeconds is the handler call timeout in seconds; a
	// number more than 0 and at most 3600.
	SettingTimeoutSeconds = "timeoutSeconds"
	// SettingEnableDebugMode sets the log level to debug when true.
	SettingEnableDebugMode = "enableDebugMode"
	// SettingRateLimit is the requests per second one caller may make
	// across the processor endpoints, from 0 (unlimited) to 1e6; it
	// overrides the rateLimit key.
	SettingRateLimit = "rateLimit"
	// SettingRateBurst is how many requests one caller may make at once,
	// a whole number from 0 (one second's worth) to 1e6; it overrides
	// the rateBurst key.
	SettingRateBurst = "rateBurst"
	// SettingRateLimitsPrefix, followed by a processor's name, is the
	// requests per second that processor takes across callers, from 0
	// (unlimited) to 1e6; it overrides rateLimits.NAME.
	SettingRateLimitsPrefix = "rateLimits."
)

// maxTimeoutSeconds bounds timeoutSeconds: an hour.
const maxTimeoutSeconds = 3600

// maxRate bounds the rate limits, as ratelimit.MaxRate (which config does
// not import, to stay free of the request path).
const maxRate = 1e6

// RuntimeSetting validates one of the runtime's own settings keys. ok is
// false for a key the runtime does not own. The returned value is
// normalized (int64 for integers, float64 for numbers, bool).
//
// It accepts what the YAML decoder gives (int, int64, uint64, float64,
// bool) and what a JSON decoder with UseNumber gives (json.Number), so
// that settings from the file and from federation updates pass the same
// check. Strings are not numbers or booleans here.
//
// For a key the runtime does not own, it returns v unchanged, false and
// nil. err does not name the key: the caller adds the key and where the
// value came from.
func RuntimeSetting(key string, v any) (norm any, ok bool, err error) {
	switch key {
	case SettingBatchSize, SettingMaxRetries:
		n, err := wholeNumber(v)
		least := int64(0)
		if key == SettingBatchSize {
			least = 1
		}
		if err == nil && n < least {
			err = fmt.Errorf("must be at least %d, got %d", least, n)
		}
		if err != nil {
			return nil, true, err
		}
		return n, true, nil
	case SettingTimeoutSeconds:
		f, err := numberIn(v, 0, maxTimeoutSeconds, false, "seconds")
		return f, true, err
	case SettingRateLimit:
		f, err := numberIn(v, 0, maxRate, true, "requests per second; 0 is unlimited")
		return f, true, err
	case SettingRateBurst:
		n, err := wholeNumber(v)
		if err == nil && (n < 0 || n > maxRate) {
			err = fmt.Errorf("must be from 0 (one second's worth of rateLimit) to %d, got %d", int64(maxRate), n)
		}
		if err != nil {
			return nil, true, err
		}
		return n, true, nil
	case SettingEnableDebugMode:
		b, isBool := v.(bool)
		if !isBool {
			return nil, true, fmt.Errorf("must be true or false, not %s", typeName(v))
		}
		return b, true, nil
	}
	if key == "rateLimits" {
		return nil, true, errors.New("set one processor's rate as rateLimits.NAME, a number of requests per second")
	}
	if name, ok := strings.CutPrefix(key, SettingRateLimitsPrefix); ok {
		if name == "" {
			return nil, true, errors.New("name a processor: rateLimits.NAME")
		}
		f, err := numberIn(v, 0, maxRate, true, "requests per second the processor takes from all callers; 0 is unlimited")
		return f, true, err
	}
	return v, false, nil
}

// numberIn returns v as a number in (lo, hi], or [lo, hi] when
// loIncluded, or an error ending with unit in parentheses.
func numberIn(v any, lo, hi float64, loIncluded bool, unit string) (any, error) {
	f, err := realNumber(v)
	if err == nil {
		err = inRange(f, lo, hi, loIncluded)
	}
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, unit)
	}
	return f, nil
}

// checkSettings checks the runtime's own keys in the settings map and
// normalizes their values; other keys pass as they are. A runtime key
// with no value counts as absent, as everywhere in the file.
func checkSettings(v any, report func(string, error)) any {
	m := v.(map[string]any)
	for _, k := range sortedKeys(m) {
		if _, own, _ := RuntimeSetting(k, nil); own && m[k] == nil {
			delete(m, k)
			continue
		}
		norm, ok, err := RuntimeSetting(k, m[k])
		switch {
		case err != nil:
			report("."+k, err)
		case ok:
			m[k] = norm
		}
	}
	return m
}

// checkPinned accepts a pinnedSettings entry: a flat settings key
// ("timeoutSeconds"), one processor's key ("plugins.hello.greeting") or
// all of a processor's settings ("plugins.hello.*"). A processor's setting
// keys hold no '.', so NAME is everything between "plugins." and the last
// dot.
func checkPinned(s string) (string, error) {
	rest, isPlugin := strings.CutPrefix(s, "plugins.")
	switch {
	case s == "" || s == "plugins" || s == "*":
		return "", fmt.Errorf("pinned setting %q: name a settings key, plugins.NAME.KEY or plugins.NAME.*", s)
	case !isPlugin:
		return s, nil
	}
	i := strings.LastIndexByte(rest, '.')
	if i <= 0 || i == len(rest)-1 {
		return "", fmt.Errorf("pinned setting %q: a processor's setting is plugins.NAME.KEY, or plugins.NAME.* for all of them", s)
	}
	return s, nil
}
