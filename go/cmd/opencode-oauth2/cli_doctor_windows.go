//go:build windows

package main

import "io/fs"

// foreignOwner is not checked on Windows, where the cache lives in the
// user's own profile (%LOCALAPPDATA%).
func foreignOwner(fs.FileInfo) string { return "" }
