package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// The argocd-cm key of a kind's health script (argo-cd docs, operator-manual/health.md).
func healthKey(group, kind string) string {
	return "resource.customizations.health." + group + "_" + kind
}

// argocdCM renders the argocd-cm ConfigMap that carries every suite's health.lua under root,
// and checks that it reads back to exactly the scripts.
func argocdCM(root, header string) ([]byte, error) {
	suites, err := findSuites(root)
	if err != nil {
		return nil, err
	}
	if len(suites) == 0 {
		return nil, fmt.Errorf("no <group>/<Kind>/health.lua under %s", root)
	}
	var b bytes.Buffer
	for _, line := range strings.Split(strings.TrimRight(header, "\n"), "\n") {
		b.WriteString(strings.TrimRight("# "+line, " ") + "\n")
	}
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argocd-cm\n  labels:\n" +
		"    app.kubernetes.io/name: argocd-cm\n    app.kubernetes.io/part-of: argocd\ndata:\n")
	want := map[string]string{}
	for _, s := range suites {
		data, err := os.ReadFile(filepath.Join(s.Dir, "health.lua"))
		if err != nil {
			return nil, err
		}
		script := string(data)
		if !strings.HasSuffix(script, "\n") || strings.HasSuffix(script, "\n\n") {
			return nil, fmt.Errorf("%s/health.lua must end with exactly one newline", s.Name)
		}
		if strings.ContainsAny(script[:1], " \t\n") {
			return nil, fmt.Errorf("%s/health.lua must not start with blank space", s.Name)
		}
		key := healthKey(s.Group, s.Kind)
		want[key] = script
		fmt.Fprintf(&b, "  %s: |\n", key)
		for _, line := range strings.SplitAfter(script, "\n") {
			if line == "" {
				continue
			}
			if line == "\n" {
				b.WriteString("\n")
			} else {
				b.WriteString("    " + line)
			}
		}
	}
	// Read it back: the value Argo CD gets must be the script, byte for byte.
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal(b.Bytes(), &cm); err != nil {
		return nil, fmt.Errorf("the rendered argocd-cm does not parse: %w", err)
	}
	for key, script := range want {
		if cm.Data[key] != script {
			return nil, fmt.Errorf("the rendered argocd-cm does not read back to the script for %s", key)
		}
	}
	if len(cm.Data) != len(want) {
		return nil, fmt.Errorf("the rendered argocd-cm has %d keys, want %d", len(cm.Data), len(want))
	}
	return b.Bytes(), nil
}

// firstDifference describes the first line where two texts differ.
func firstDifference(want, have []byte) string {
	w := strings.Split(string(want), "\n")
	h := strings.Split(string(have), "\n")
	for i := 0; i < len(w) || i < len(h); i++ {
		var wl, hl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(h) {
			hl = h[i]
		}
		if wl != hl || i >= len(w) || i >= len(h) {
			return fmt.Sprintf("line %d:\n  generated: %q\n  file:      %q", i+1, wl, hl)
		}
	}
	return "no difference"
}
