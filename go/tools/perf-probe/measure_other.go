//go:build !unix

package main

import (
	"errors"
	"os"
)

// readUsage is not available here: the whole-process figures are taken on Unix.
func readUsage(*os.ProcessState, *measurement) error {
	return errors.New("measure: resource usage is only read on Unix")
}
