// Command etcd is the upstream etcd server, built from the published
// go.etcd.io/etcd/server/v3 module. It is the same program as the module's own
// main.go, which cannot be `go install`ed because that go.mod has replace lines.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
