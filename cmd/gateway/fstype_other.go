//go:build !linux

package main

// pseudoFS is known on Linux only (see fstype_linux.go).
func pseudoFS(string) string { return "" }
