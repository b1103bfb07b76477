package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, script string, obj map[string]any, mode Mode) (Health, error) {
	t.Helper()
	return RunHealth(script, obj, mode)
}

var widget = map[string]any{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": map[string]any{"name": "w"}}

// The point of argocd-cm mode: no string library, no string methods, no global os.
func TestArgoCDCMModeHasNoStringLibrary(t *testing.T) {
	for name, script := range map[string]string{
		"string.find":   `return {status = string.find("abc", "b") and "Healthy" or "Degraded"}`,
		"method call":   `return {status = ("healthy"):upper()}`,
		"string.format": `return {status = string.format("%s", "Healthy")}`,
		"global os":     `return {status = "Healthy", message = tostring(os.time())}`,
	} {
		if _, err := run(t, script, widget, ModeArgoCDCM); err == nil {
			t.Errorf("%s: ran in argocd-cm mode, but Argo CD would fail it", name)
		}
		if _, err := run(t, script, widget, ModeBundled); err != nil {
			t.Errorf("%s: failed in bundled mode: %v", name, err)
		}
	}
}

// What argocd-cm mode does have: base, table, package, and os.time/os.date via require.
func TestArgoCDCMModeHasBaseTableAndRequiredOs(t *testing.T) {
	script := `
local os = require("os")
local parts = {}
table.insert(parts, tostring(type(os.time())))
table.insert(parts, tostring(type(os.date)))
table.insert(parts, tostring(os.exit))
table.insert(parts, tostring(table.time))
table.insert(parts, tostring(#"four"))
return {status = "Healthy", message = table.concat(parts, ",")}`
	got, err := run(t, script, widget, ModeArgoCDCM)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Health{"Healthy", "number,function,nil,nil,4"}); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

// Numbers arrive as Lua numbers whether the object came from YAML (float64) or from the
// apiserver (int64), and concatenate without the string library.
func TestNumbersFromYAMLAndFromTheAPIServer(t *testing.T) {
	script := `return {status = "Progressing", message = "generation " .. obj.metadata.generation}`
	for _, generation := range []any{float64(3), int64(3)} {
		obj := map[string]any{"metadata": map[string]any{"generation": generation}}
		got, err := run(t, script, obj, ModeArgoCDCM)
		if err != nil {
			t.Fatal(err)
		}
		if got.Message != "generation 3" {
			t.Fatalf("%T: got %q", generation, got.Message)
		}
	}
}

// Results as Argo CD reads them.
func TestResults(t *testing.T) {
	for script, want := range map[string]Health{
		`return nil`:                   {},
		`return {}`:                    {},
		`return {status = "Fine"}`:     {Status: "Unknown", Message: invalidHealthStatus},
		`return {status = "Degraded"}`: {Status: "Degraded"},
	} {
		got, err := run(t, script, widget, ModeArgoCDCM)
		if err != nil {
			t.Fatalf("%s: %v", script, err)
		}
		if got != want {
			t.Errorf("%s: got %+v, want %+v", script, got, want)
		}
	}
	if _, err := run(t, `return "Healthy"`, widget, ModeArgoCDCM); err == nil ||
		!strings.Contains(err.Error(), "expect table output") {
		t.Errorf("a string result: %v", err)
	}
	if _, err := run(t, `while true do end`, widget, ModeArgoCDCM); err == nil {
		t.Error("an endless script was not stopped")
	}
}

// The suite runner fails a wrong expectation with both values, and an unused fixture.
func TestSuiteFailuresAreReported(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "example.com", "Widget")
	write := func(name, text string) {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("health.lua", "return {status = \"Healthy\", message = \"fine\"}\n")
	write("health_test.yaml", "tests:\n- healthStatus: {status: Degraded, message: broken}\n  inputPath: testdata/a.yaml\n")
	write("testdata/a.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: a}\n")
	write("testdata/unused.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: b}\n")
	var out bytes.Buffer
	failures, err := runSuites(&out, root, []Mode{ModeArgoCDCM}, false)
	if err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		`status:  want "Degraded"`, `got  "Healthy"`, `message: want "broken"`,
		"testdata/unused.yaml is not used by health_test.yaml",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if failures != 2 {
		t.Errorf("%d failures, want 2:\n%s", failures, text)
	}
}

// The generated argocd-cm carries each script byte for byte.
func TestArgoCDCMReadsBackToTheScripts(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "example.com", "Widget")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	script := "-- a: b\nlocal hs = {}\n\n  hs.status = \"Healthy\"\nreturn hs\n"
	if err := os.WriteFile(filepath.Join(dir, "health.lua"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := argocdCM(root, "header")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "  resource.customizations.health.example.com_Widget: |\n    -- a: b\n") {
		t.Fatalf("unexpected rendering:\n%s", out)
	}
	if err := os.WriteFile(filepath.Join(dir, "health.lua"), []byte(script+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := argocdCM(root, "header"); err == nil {
		t.Fatal("a script ending in a blank line was accepted (a YAML block would drop it)")
	}
}

// Objects come as JSON or YAML, one, many or a List, with integer numbers kept.
func TestDecodeObjects(t *testing.T) {
	for name, input := range map[string]string{
		"json":      `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","generation":2}}`,
		"yaml":      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  generation: 2\n---\n",
		"json list": `{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","generation":2}}]}`,
	} {
		objs, err := decodeObjects([]byte(input))
		if err != nil || len(objs) != 1 {
			t.Fatalf("%s: %v, %d objects", name, err, len(objs))
		}
		if g := objs[0].GetGeneration(); g != 2 {
			t.Errorf("%s: generation %d", name, g)
		}
	}
	objs, err := decodeObjects([]byte("kind: A\napiVersion: v1\n---\nkind: B\napiVersion: v1\n"))
	if err != nil || len(objs) != 2 {
		t.Fatalf("a YAML stream: %v, %d objects", err, len(objs))
	}
}
