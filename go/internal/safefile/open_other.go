//go:build !unix

package safefile

import "os"

// NoFollow and NonBlock have no equivalent here.
const NoFollow, NonBlock = 0, 0

func exposure(os.FileInfo) string { return "" }
