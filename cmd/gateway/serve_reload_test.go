package main

import (
	"testing"
	"time"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/config"
)

// TestReloadChanges: what a reload changed, as its log line says it.
func TestReloadChanges(t *testing.T) {
	oldCfg := &config.Config{Backends: []config.Backend{
		{Name: "a", Type: "tcp", Address: "127.0.0.1:1"},
		{Name: "b", Type: "tcp", Address: "127.0.0.1:2"},
		{Name: "c", Type: "pty", Command: []string{"/bin/sh"}},
	}}
	newCfg := &config.Config{Backends: []config.Backend{
		{Name: "a", Type: "tcp", Address: "127.0.0.1:1"},
		{Name: "c", Type: "pty", Command: []string{"/bin/sh", "-l"}},
		{Name: "d", Type: "tcp", Address: "127.0.0.1:4"},
	}}
	newCfg.Lines.Maintenance = true
	exp := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	oldUsers := []auth.User{
		{ID: "same", Hash: "h1", Expires: exp},
		{ID: "gone", Hash: "h2"},
		{ID: "newpw", Hash: "h3"},
		{ID: "disabled", Hash: "h4"},
	}
	newUsers := []auth.User{
		{ID: "same", Hash: "h1", Expires: exp.In(time.FixedZone("X", 3600))},
		{ID: "newpw", Hash: "h3'"},
		{ID: "disabled", Hash: "h4", Disabled: true},
		{ID: "added", Hash: "h5"},
	}
	got := reloadChanges(oldCfg, newCfg, oldUsers, newUsers)
	want := reloadChange{usersAdded: 1, usersRemoved: 1, usersChanged: 2, backendsChanged: 3, maintenance: true}
	if got != want {
		t.Errorf("reloadChanges = %+v, want %+v", got, want)
	}
	if got := reloadChanges(oldCfg, oldCfg, oldUsers, oldUsers); got != (reloadChange{}) {
		t.Errorf("no change: %+v", got)
	}
}
