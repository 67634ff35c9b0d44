//go:build tools

// Package tools keeps the Kubernetes command packages in this module's graph
// so that `go mod tidy` records every dependency they need and
// `go build k8s.io/kubernetes/cmd/...` works from this directory.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
