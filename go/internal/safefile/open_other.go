//go:build !unix

package safefile

import "os"

// NoFollow and nonBlock have no equivalent here.
const NoFollow, nonBlock = 0, 0

func exposure(os.FileInfo) string { return "" }
