// Command vault builds HashiCorp Vault from its published module so that the
// test suite can start a real dev server. It is a development and test tool
// only: Vault is under the BUSL licence and Cedula does not ship this binary.
package main

import (
	"os"

	"github.com/hashicorp/vault/command"
)

func main() {
	os.Exit(command.Run(os.Args[1:]))
}
