package main

import (
	"reflect"
	"strings"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/config"
)

// reloadChange is what a reload (SIGHUP) changed, for its log line.
type reloadChange struct {
	usersAdded, usersRemoved, usersChanged int
	// backendsChanged counts the backends added, removed or changed.
	backendsChanged int
	// maintenance is whether [lines] maintenance was switched.
	maintenance bool
	// settings names the other parts whose values changed, comma
	// separated: "lines" ([lines] but maintenance), "security",
	// "listeners" (their call settings), "gateway_name",
	// "default_backend".
	settings string
}

// reloadChanges compares the configuration and the users in effect
// before a reload with those after it. A user whose password, backend,
// callback, expiry or disabled flag differs counts as changed.
func reloadChanges(oldCfg, newCfg *config.Config, oldUsers, newUsers []auth.User) reloadChange {
	var ch reloadChange
	before := make(map[string]auth.User, len(oldUsers))
	for _, u := range oldUsers {
		before[u.ID] = u
	}
	for _, u := range newUsers {
		o, ok := before[u.ID]
		switch {
		case !ok:
			ch.usersAdded++
		case o.Hash != u.Hash || o.Callback != u.Callback || o.Backend != u.Backend ||
			o.Disabled != u.Disabled || !o.Expires.Equal(u.Expires):
			ch.usersChanged++
		}
		delete(before, u.ID)
	}
	ch.usersRemoved = len(before)
	backends := make(map[string]config.Backend, len(oldCfg.Backends))
	for _, b := range oldCfg.Backends {
		backends[b.Name] = b
	}
	for _, b := range newCfg.Backends {
		if o, ok := backends[b.Name]; !ok || !reflect.DeepEqual(o, b) {
			ch.backendsChanged++
		}
		delete(backends, b.Name)
	}
	ch.backendsChanged += len(backends)
	ch.maintenance = oldCfg.Lines.Maintenance != newCfg.Lines.Maintenance
	oldLines, newLines := oldCfg.Lines, newCfg.Lines
	oldLines.Maintenance, newLines.Maintenance = false, false
	var parts []string
	for _, p := range []struct {
		name        string
		before, now any
	}{
		{"lines", oldLines, newLines},
		{"security", oldCfg.Security, newCfg.Security},
		{"listeners", oldCfg.Listeners, newCfg.Listeners},
		{"gateway_name", oldCfg.GatewayName, newCfg.GatewayName},
		{"default_backend", oldCfg.DefaultBackend, newCfg.DefaultBackend},
	} {
		if !reflect.DeepEqual(p.before, p.now) {
			parts = append(parts, p.name)
		}
	}
	ch.settings = strings.Join(parts, ",")
	return ch
}
