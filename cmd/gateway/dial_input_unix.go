//go:build unix

package main

import "os"

// ctrlZIsEOF: a Unix terminal in raw mode passes Ctrl-Z on as an octet,
// and io.EOF from stdin is its end.
func ctrlZIsEOF(*os.File) bool { return false }
