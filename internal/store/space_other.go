//go:build !unix

package store

// outOfSpace: see space_unix.go. The store does not run here (openFile
// fails with errUnsupported), so no failure is taken for a full disk.
func outOfSpace(error) bool { return false }
