// Command kubectl is upstream's kubectl main (k8s.io/kubernetes/cmd/kubectl/kubectl.go),
// built against the published k8s.io/kubectl module so that it needs no k8s.io/kubernetes
// checkout. hack/tools/build.sh builds it and stamps the version.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"

	// Client auth plugins (exec, OIDC), as upstream's kubectl links them.
	_ "k8s.io/client-go/plugin/pkg/client/auth"
)

func main() {
	// As upstream: verbosity is parsed before the command is built, so klog works while the
	// command is constructed (plugins, .kuberc).
	logs.GlogSetter(cmd.GetLogVerbosity(os.Args)) //nolint:errcheck
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		util.CheckErr(err)
	}
}
