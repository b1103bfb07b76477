// gitops-check: test infrastructure for how GitOps tools read megaport-operator's objects:
// Argo CD's health scripts in Argo CD's Lua runtime (luavm.go, suites.go), kstatus as Flux and
// Helm 4 --wait compute it, and the argocd-cm carrying the scripts (argocdcm.go). Built and
// cached by build.sh; used by check.sh (make gitops) and tests/e2e/gitops.rs. Commands and
// flags: usageText below, or `gitops-check help`.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

const defaultDir = "gitops/argocd"

const argocdCMHeader = `Generated from gitops/argocd/<group>/<Kind>/health.lua by hack/gitops-check/check.sh
(UPDATE=1 make gitops); do not edit. make gitops fails when it drifts from the scripts.

Argo CD health checks for megaport-operator's kinds, as argocd-cm keys. Merge into the
argocd-cm of your Argo CD, e.g.
  kubectl -n argocd patch configmap argocd-cm --type merge --patch-file gitops/argocd/argocd-cm.yaml
or copy the data keys into the Argo CD Helm chart's configs.cm values. The scripts need no
resource.customizations.useOpenLibs key: they run without Lua's string library.`

// errFailed marks a check that did not hold (exit 1, already reported).
var errFailed = errors.New("check failed")

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	args := os.Args[2:]
	switch os.Args[1] {
	case "lua":
		err = cmdLua(args)
	case "lua-live":
		err = cmdLuaLive(args)
	case "kstatus":
		err = cmdKstatus(args)
	case "argocd-cm":
		err = cmdArgoCDCM(args)
	case "-h", "--help", "help":
		usage()
	default:
		fmt.Fprintf(os.Stderr, "gitops-check: unknown command %q\n", os.Args[1])
		usage()
	}
	switch {
	case err == nil:
	case errors.Is(err, errFailed):
		os.Exit(1)
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "gitops-check %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

const usageText = `usage:
  gitops-check lua [--mode argocd-cm|bundled|both] [-v] [DIR]
      run every <group>/<Kind>/health_test.yaml under DIR (default gitops/argocd) in Argo CD's Lua
  gitops-check lua-live [--dir DIR] [--kind KIND] [--mode argocd-cm|bundled] [--script-only] [--expect HEALTH] [-o json] [FILE...]
      Argo CD's health of live objects (JSON or YAML; stdin when no FILE)
  gitops-check kstatus [--expect STATUS] [-o json] [FILE...]
      kstatus (cli-utils status.Compute: Flux, Helm 4 --wait) of live objects
  gitops-check argocd-cm [--dir DIR] [--check FILE | --write FILE]
      the argocd-cm ConfigMap carrying every health.lua under DIR
exit status: 0 when everything holds, 1 when a check fails, 2 on bad usage`

func usage() {
	fmt.Fprintln(os.Stderr, usageText)
	os.Exit(2)
}

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("gitops-check "+name, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	return fs
}

func cmdLua(args []string) error {
	fs := newFlags("lua")
	modeFlag := fs.String("mode", "both", "argocd-cm, bundled or both")
	verbose := fs.Bool("v", false, "print every test, not only failures")
	if err := fs.Parse(args); err != nil {
		return err
	}
	modes, err := ParseModes(*modeFlag)
	if err != nil {
		return err
	}
	root := defaultDir
	if fs.NArg() > 0 {
		root = fs.Arg(0)
	}
	failures, err := runSuites(os.Stdout, root, modes, *verbose)
	if err != nil {
		return err
	}
	if failures > 0 {
		return errFailed
	}
	return nil
}

// A result line for one object.
type verdict struct {
	Object  string `json:"object"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

// report prints verdicts and checks them against expect ("" expects nothing).
func report(w io.Writer, verdicts []verdict, expect, output string) error {
	mismatch := false
	for _, v := range verdicts {
		if output == "json" {
			line, _ := json.Marshal(v)
			fmt.Fprintln(w, string(line))
		} else {
			fmt.Fprintf(w, "%s: %s: %s\n", v.Object, v.Status, v.Message)
		}
		if expect != "" && v.Status != expect {
			mismatch = true
			fmt.Fprintf(os.Stderr, "%s: expected %s, got %s (%s)\n", v.Object, expect, v.Status, v.Message)
		}
	}
	if mismatch {
		return errFailed
	}
	return nil
}

func cmdKstatus(args []string) error {
	fs := newFlags("kstatus")
	expect := fs.String("expect", "", "fail unless every object has this status")
	output := fs.String("o", "text", "text or json (one JSON object per line)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *expect != "" && !knownKstatus(*expect) {
		return fmt.Errorf("--expect %q is not a kstatus status (%v)", *expect, status.Statuses)
	}
	objs, err := readObjects(fs.Args())
	if err != nil {
		return err
	}
	var verdicts []verdict
	for _, u := range objs {
		res, err := status.Compute(u)
		if err != nil {
			return fmt.Errorf("%s: %w", describeObject(u), err)
		}
		verdicts = append(verdicts, verdict{describeObject(u), res.Status.String(), res.Message})
	}
	return report(os.Stdout, verdicts, *expect, *output)
}

func knownKstatus(s string) bool {
	for _, known := range status.Statuses {
		if known.String() == s {
			return true
		}
	}
	return false
}

// argoHealth is what Argo CD shows for a live object (gitops-engine's GetResourceHealth with
// our script as the override): deletion first, then the script; a script error is Unknown.
func argoHealth(script string, u *unstructured.Unstructured, mode Mode, scriptOnly bool) Health {
	if !scriptOnly && u.GetDeletionTimestamp() != nil {
		return Health{Status: "Progressing", Message: "Pending deletion"}
	}
	health, err := RunHealth(script, u.Object, mode)
	if err != nil {
		return Health{Status: "Unknown", Message: err.Error()}
	}
	return health
}

func cmdLuaLive(args []string) error {
	fs := newFlags("lua-live")
	dir := fs.String("dir", defaultDir, "where <group>/<Kind>/health.lua live")
	kind := fs.String("kind", "", "use this kind's script (default: the object's kind)")
	modeFlag := fs.String("mode", string(ModeArgoCDCM), "argocd-cm or bundled")
	scriptOnly := fs.Bool("script-only", false, "the script's verdict even for an object being deleted")
	expect := fs.String("expect", "", "fail unless every object has this health")
	output := fs.String("o", "text", "text or json (one JSON object per line)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	modes, err := ParseModes(*modeFlag)
	if err != nil || len(modes) != 1 {
		return fmt.Errorf("--mode must be argocd-cm or bundled")
	}
	if *expect != "" && !validHealth[*expect] {
		return fmt.Errorf("--expect %q is not an Argo CD health status", *expect)
	}
	objs, err := readObjects(fs.Args())
	if err != nil {
		return err
	}
	var verdicts []verdict
	for _, u := range objs {
		script, err := healthScript(*dir, u, *kind)
		if err != nil {
			return err
		}
		h := argoHealth(script, u, modes[0], *scriptOnly)
		verdicts = append(verdicts, verdict{describeObject(u), h.Status, h.Message})
	}
	return report(os.Stdout, verdicts, *expect, *output)
}

func cmdArgoCDCM(args []string) error {
	fs := newFlags("argocd-cm")
	dir := fs.String("dir", defaultDir, "where <group>/<Kind>/health.lua live")
	check := fs.String("check", "", "fail unless this file is what would be generated")
	write := fs.String("write", "", "write the ConfigMap to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rendered, err := argocdCM(*dir, argocdCMHeader)
	if err != nil {
		return err
	}
	switch {
	case *check != "":
		have, err := os.ReadFile(*check)
		if err != nil {
			return err
		}
		if string(have) != string(rendered) {
			fmt.Fprintf(os.Stderr, "%s is out of date with %s/*/*/health.lua (first difference at %s)\nrun `UPDATE=1 make gitops` and commit the result\n",
				*check, *dir, firstDifference(rendered, have))
			return errFailed
		}
		fmt.Printf("ok   %s matches %s/*/*/health.lua\n", *check, *dir)
	case *write != "":
		return os.WriteFile(*write, rendered, 0o644)
	default:
		_, err = os.Stdout.Write(rendered)
	}
	return err
}
