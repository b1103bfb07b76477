package main

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// A health_test.yaml, in argo-cd's resource_customizations layout.
type suiteFile struct {
	Tests []struct {
		InputPath    string `json:"inputPath"`
		HealthStatus Health `json:"healthStatus"`
	} `json:"tests"`
}

// Suite is one <group>/<Kind> directory: health.lua, health_test.yaml and testdata/.
type Suite struct {
	Dir   string // the directory
	Name  string // <group>/<Kind>, relative to the root
	Group string
	Kind  string
}

// findSuites returns every directory under root that holds a health.lua, sorted.
func findSuites(root string) ([]Suite, error) {
	var suites []Suite
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || d.Name() != "health.lua" {
			return nil
		}
		dir := filepath.Dir(path)
		rel, err := filepath.Rel(root, dir)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		group, kind, ok := strings.Cut(rel, "/")
		if !ok || strings.Contains(kind, "/") {
			return fmt.Errorf("%s: health.lua must be at <group>/<Kind>/health.lua under %s", path, root)
		}
		suites = append(suites, Suite{Dir: dir, Name: rel, Group: group, Kind: kind})
		return nil
	})
	sort.Slice(suites, func(i, j int) bool { return suites[i].Name < suites[j].Name })
	return suites, err
}

// healthScript returns the health.lua for an object's group and kind (kind overrides the
// object's) under root.
func healthScript(root string, u *unstructured.Unstructured, kind string) (string, error) {
	group := u.GroupVersionKind().Group
	if kind == "" {
		kind = u.GetKind()
	}
	if group == "" {
		return "", fmt.Errorf("%s: kinds of the core API group have no <group>/<Kind> directory", describeObject(u))
	}
	data, err := os.ReadFile(filepath.Join(root, group, kind, "health.lua"))
	if err != nil {
		return "", fmt.Errorf("no health script for %s/%s: %w", group, kind, err)
	}
	return string(data), nil
}

// runSuites runs every suite under root in every mode, writing each failure (and with verbose
// each pass) and a summary to w. It returns the number of failures; unreadable or unused files
// count as failures too.
func runSuites(w io.Writer, root string, modes []Mode, verbose bool) (int, error) {
	suites, err := findSuites(root)
	if err != nil {
		return 0, err
	}
	if len(suites) == 0 {
		return 0, fmt.Errorf("no <group>/<Kind>/health.lua under %s", root)
	}
	failures, tests := 0, 0
	fail := func(format string, args ...any) {
		failures++
		fmt.Fprintf(w, "FAIL "+format+"\n", args...)
	}
	for _, s := range suites {
		scriptBytes, err := os.ReadFile(filepath.Join(s.Dir, "health.lua"))
		if err != nil {
			return failures, err
		}
		script := string(scriptBytes)
		data, err := os.ReadFile(filepath.Join(s.Dir, "health_test.yaml"))
		if err != nil {
			fail("%s: no health_test.yaml: %v", s.Name, err)
			continue
		}
		var file suiteFile
		if err := yaml.UnmarshalStrict(data, &file); err != nil {
			fail("%s/health_test.yaml: %v", s.Name, err)
			continue
		}
		if len(file.Tests) == 0 {
			fail("%s/health_test.yaml has no tests", s.Name)
		}
		used := map[string]bool{}
		for _, t := range file.Tests {
			input := filepath.ToSlash(filepath.Clean(t.InputPath))
			used[input] = true
			label := s.Name + "/" + input
			obj, err := readFixture(filepath.Join(s.Dir, t.InputPath))
			if err != nil {
				fail("%s: %v", label, err)
				continue
			}
			if problem := fixtureMismatch(s, obj); problem != "" {
				fail("%s: %s", label, problem)
				continue
			}
			for _, mode := range modes {
				tests++
				got, err := RunHealth(script, obj, mode)
				if err != nil {
					fail("%s [%s]: the script failed: %v", label, mode, err)
					continue
				}
				if got != t.HealthStatus {
					fail("%s [%s]:\n%s", label, mode, healthDiff(t.HealthStatus, got))
					continue
				}
				if verbose {
					fmt.Fprintf(w, "ok   %s [%s] %s\n", label, mode, got.Status)
				}
			}
		}
		// Every fixture is a test: a file nobody checks is a claim nobody verified.
		fixtures, _ := filepath.Glob(filepath.Join(s.Dir, "testdata", "*.yaml"))
		for _, f := range fixtures {
			rel, _ := filepath.Rel(s.Dir, f)
			if !used[filepath.ToSlash(rel)] {
				fail("%s/%s is not used by health_test.yaml", s.Name, filepath.ToSlash(rel))
			}
		}
	}
	names := make([]string, len(suites))
	for i, s := range suites {
		names[i] = s.Name
	}
	verdict := "ok  "
	if failures > 0 {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "%s %d health test(s) x %d mode(s) %v under %s (%s): %d failure(s)\n",
		verdict, tests/len(modes), len(modes), modes, root, strings.Join(names, ", "), failures)
	return failures, nil
}

// fixtureMismatch says why a fixture does not belong to its suite ("" when it does).
func fixtureMismatch(s Suite, obj map[string]any) string {
	u := unstructured.Unstructured{Object: obj}
	gvk := u.GroupVersionKind()
	if s.Group != "_" && gvk.Group != s.Group {
		return fmt.Sprintf("apiVersion %q is not in group %s", u.GetAPIVersion(), s.Group)
	}
	if s.Kind != "_" && gvk.Kind != s.Kind {
		return fmt.Sprintf("kind %q is not %s", gvk.Kind, s.Kind)
	}
	return ""
}

// healthDiff shows what differs between the expected and the actual health.
func healthDiff(want, got Health) string {
	var b strings.Builder
	if want.Status != got.Status {
		fmt.Fprintf(&b, "  status:  want %q\n           got  %q\n", want.Status, got.Status)
	}
	if want.Message != got.Message {
		fmt.Fprintf(&b, "  message: want %q\n           got  %q\n", want.Message, got.Message)
		if i := commonPrefix(want.Message, got.Message); i > 0 {
			fmt.Fprintf(&b, "           (same for the first %d characters; they differ from %q)\n", i, got.Message[i:])
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

func commonPrefix(a, b string) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}
