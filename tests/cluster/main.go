// Command vpcgate-cluster is a multi-call binary bundling the components of a
// minimal local Kubernetes control plane for vpcgate's tests: etcd,
// kube-apiserver, kube-controller-manager and kubectl, all from one module
// graph. It dispatches on its first argument (or on the name it is invoked
// under), e.g. `vpcgate-cluster kube-apiserver --secure-port=...`.
//
// It is built and cached outside the repository by tests/cluster/cluster.sh.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // --logging-format=json, as upstream's mains
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics, as upstream's mains
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric, as upstream's mains
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

var commands = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kubectl"}

func main() {
	name := filepath.Base(os.Args[0])
	if !known(name) {
		if len(os.Args) < 2 || !known(os.Args[1]) {
			fmt.Fprintf(os.Stderr, "usage: %s {%s} [args...]\n", name, join(commands))
			os.Exit(2)
		}
		// Shift so that each component sees itself as argv[0] and its own
		// arguments from argv[1] on, exactly as its upstream main would.
		os.Args = os.Args[1:]
		name = os.Args[0]
	}
	os.Exit(run(name))
}

func run(name string) int {
	switch name {
	case "etcd":
		// etcd's main is not a cobra command; it parses os.Args itself and
		// exits on its own.
		etcdmain.Main(os.Args)
		return 0
	case "kube-apiserver":
		return cli.Run(apiserver.NewAPIServerCommand())
	case "kube-controller-manager":
		return cli.Run(controllermanager.NewControllerManagerCommand())
	case "kubectl":
		if err := cli.RunNoErrOutput(kubectlcmd.NewDefaultKubectlCommand()); err != nil {
			kubectlutil.CheckErr(err) // prints the error the way kubectl does and exits
		}
		return 0
	}
	return 2
}

func known(name string) bool {
	for _, c := range commands {
		if c == name {
			return true
		}
	}
	return false
}

func join(xs []string) string {
	s := ""
	for i, x := range xs {
		if i > 0 {
			s += "|"
		}
		s += x
	}
	return s
}
