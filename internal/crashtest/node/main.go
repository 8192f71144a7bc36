// Command node is the process that the crash test kills and restarts (the
// test runs its own binary in this role; this command runs it by hand):
//
//	go run ./internal/crashtest/node -db crash.db -actlog activities.log -incarnation 1 -exit-when-done
//
// See crashtest.NodeMain.
package main

import (
	"os"

	"github.com/perdure/perdure/internal/crashtest"
)

func main() { os.Exit(crashtest.NodeMain(os.Args[1:])) }
