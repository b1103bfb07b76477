package main

// The Lua runtime of Argo CD's resource health checks, set up the way Argo CD sets it up
// (argo-cd util/lua/lua.go, VM.runLuaWithResourceActionParameters and ExecuteHealthLua), so
// that a script passing here passes there.
//
// Two modes exist in Argo CD:
//
//   - argocd-cm: a script configured as resource.customizations.health.<group>_<kind> runs with
//     lua.Options{SkipOpenLibs: true}, then only the package, base and table libraries are
//     opened, plus a "safe" os module (time, date) that is reachable through require("os")
//     only. No string library: string.find and friends do not exist, and "s:upper()" fails
//     because strings have no metatable. (useOpenLibs.<group>_<kind>: "true" lifts this; we
//     do not ask users to set it.)
//   - bundled: a script shipped in argo-cd's resource_customizations/ runs with every standard
//     library open (GetHealthScript returns useOpenLibs=true for built-in scripts), as does
//     upstream's TestLuaHealthScript.
//
// A script that is to be upstreamed and also installed through argocd-cm must pass in both.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// Mode says which libraries a script gets.
type Mode string

const (
	// ModeArgoCDCM is a health script from argocd-cm without useOpenLibs.
	ModeArgoCDCM Mode = "argocd-cm"
	// ModeBundled is a script bundled with Argo CD (every standard library open).
	ModeBundled Mode = "bundled"
)

// Modes is every mode, in the order suites run them.
var Modes = []Mode{ModeArgoCDCM, ModeBundled}

// ParseModes turns "argocd-cm", "bundled" or "both" into modes.
func ParseModes(text string) ([]Mode, error) {
	switch text {
	case string(ModeArgoCDCM):
		return []Mode{ModeArgoCDCM}, nil
	case string(ModeBundled):
		return []Mode{ModeBundled}, nil
	case "both":
		return Modes, nil
	}
	return nil, fmt.Errorf("unknown mode %q (argocd-cm, bundled or both)", text)
}

// Health is Argo CD's health.HealthStatus: what a health script returns.
type Health struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
}

// The health codes Argo CD accepts from a script (health.HealthStatusCode); anything else
// becomes Unknown with invalidHealthStatus.
var validHealth = map[string]bool{
	"Unknown": true, "Progressing": true, "Suspended": true,
	"Healthy": true, "Degraded": true, "Missing": true,
}

const invalidHealthStatus = "Lua returned an invalid health status"

// scriptTimeout is Argo CD's limit on one script run.
const scriptTimeout = time.Second

// newState builds an LState with the libraries Argo CD opens in `mode`.
func newState(mode Mode) (*lua.LState, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: mode != ModeBundled})
	// Argo CD opens these in both modes (a second open in bundled mode changes nothing).
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			l.Close()
			return nil, fmt.Errorf("opening Lua library %q: %w", lib.name, err)
		}
	}
	// Argo CD's safe os: its opener registers time and date under the name of the *table*
	// module (RegisterModule(lua.TabLibName, ...)), which gopher-lua ignores because "table" is
	// loaded already; so no global `os` exists and the functions are reachable only through
	// the preloaded module: local os = require("os"). In bundled mode the full os library is
	// loaded first and require("os") returns it.
	safe := safeOsFuncs()
	l.PreloadModule(lua.OsLibName, func(l *lua.LState) int {
		l.Push(l.SetFuncs(l.NewTable(), safe))
		return 1
	})
	return l, nil
}

// safeOsFuncs takes os.time and os.date from gopher-lua's own os library (Argo CD's safe os
// module is a copy of these two).
func safeOsFuncs() map[string]lua.LGFunction {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	l.Push(l.NewFunction(lua.OpenOs))
	l.Call(0, 1)
	mod := l.Get(-1).(*lua.LTable)
	out := map[string]lua.LGFunction{}
	for _, name := range []string{"time", "date"} {
		out[name] = mod.RawGetString(name).(*lua.LFunction).GFunction
	}
	return out
}

// RunHealth runs a health script on `obj` (the object as Argo CD holds it: JSON types, with
// float64 or int64 numbers) in `mode`, and returns what Argo CD would make of its result.
// An error is what Argo CD reports as health Unknown with the error's text.
func RunHealth(script string, obj map[string]any, mode Mode) (Health, error) {
	l, err := newState(mode)
	if err != nil {
		return Health{}, err
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("actionParams", l.CreateTable(0, 0))
	l.SetGlobal("obj", decodeValue(l, obj))

	fn, err := l.LoadString(script)
	if err == nil {
		l.Push(fn)
		err = l.PCall(0, lua.MultRet, nil)
	}
	var apiErr *lua.ApiError
	if errors.As(err, &apiErr) && apiErr.Type == lua.ApiErrorRun {
		apiErr.StackTrace = "" // as Argo CD: users see the error, not the trace
		err = apiErr
	}
	if err != nil {
		return Health{}, err
	}

	ret := l.Get(-1)
	switch ret.Type() {
	case lua.LTNil:
		return Health{}, nil
	case lua.LTTable:
	default:
		return Health{}, fmt.Errorf("expect table output from Lua script, not %s", ret.Type())
	}
	encoded, err := encodeValue(ret)
	if err != nil {
		return Health{}, err
	}
	if _, isArray := encoded.([]any); isArray {
		// An empty table encodes as [] and Argo CD takes it as an empty health.
		return Health{}, nil
	}
	raw, err := json.Marshal(encoded)
	if err != nil {
		return Health{}, err
	}
	var health Health
	if err := json.Unmarshal(raw, &health); err != nil {
		return Health{}, err
	}
	if !validHealth[health.Status] {
		return Health{Status: "Unknown", Message: invalidHealthStatus}, nil
	}
	return health, nil
}

// decodeValue turns a JSON-typed Go value into Lua the way Argo CD's decodeValue does: maps
// and slices become tables (slices 1-based), numbers LNumber, json.Number a string, anything
// else nil.
func decodeValue(l *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case int:
		return lua.LNumber(v)
	case int32:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case json.Number:
		return lua.LString(v)
	case []any:
		t := l.CreateTable(len(v), 0)
		for _, item := range v {
			t.Append(decodeValue(l, item))
		}
		return t
	case map[string]any:
		t := l.CreateTable(0, len(v))
		for key, item := range v {
			t.RawSetH(lua.LString(key), decodeValue(l, item))
		}
		return t
	}
	return lua.LNil
}

// encodeValue turns a script's result into JSON-typed Go values the way layeh.com/gopher-json
// (which Argo CD uses) encodes tables: a table with only keys 1..n is an array, a table with
// only string keys an object, an empty table an empty array, anything mixed an error.
func encodeValue(value lua.LValue) (any, error) {
	switch v := value.(type) {
	case lua.LBool:
		return bool(v), nil
	case lua.LNumber:
		return float64(v), nil
	case lua.LString:
		return string(v), nil
	case *lua.LNilType:
		return nil, nil
	case *lua.LTable:
		n := v.MaxN()
		count := 0
		stringKeys := true
		v.ForEach(func(key, _ lua.LValue) {
			count++
			if key.Type() != lua.LTString {
				stringKeys = false
			}
		})
		switch {
		case count == 0:
			return []any{}, nil
		case n == count:
			out := make([]any, 0, n)
			for i := 1; i <= n; i++ {
				item, err := encodeValue(v.RawGetInt(i))
				if err != nil {
					return nil, err
				}
				out = append(out, item)
			}
			return out, nil
		case stringKeys:
			out := map[string]any{}
			var err error
			v.ForEach(func(key, item lua.LValue) {
				if err != nil {
					return
				}
				out[string(key.(lua.LString))], err = encodeValue(item)
			})
			return out, err
		}
		return nil, errors.New("cannot encode mixed or invalid key types")
	}
	return nil, fmt.Errorf("cannot encode %s to JSON", value.Type())
}
