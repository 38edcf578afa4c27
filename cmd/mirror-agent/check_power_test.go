package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckPanelPower: check names the panel power method in use and what it answered, and
// fails with a hint when the method named is missing or does not answer.
func TestCheckPanelPower(t *testing.T) {
	bin := t.TempDir()
	t.Setenv("PATH", bin)
	t.Setenv("WAYLAND_DISPLAY", filepath.Join(t.TempDir(), "wayland-0"))
	t.Setenv("DISPLAY", "")
	tool := func(name, body string) {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg := &Config{}
	cfg.Display.Power = "wlr-randr"
	if detail, _, err := checkPanelPower(t.Context(), cfg); err != nil || !strings.Contains(detail, "display.hours is empty") {
		t.Errorf("no hours: %q, %v; want not switched", detail, err)
	}
	cfg.Display.Hours = "09:00-21:00"
	if _, hint, err := checkPanelPower(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "wlr-randr") || hint == "" {
		t.Errorf("wlr-randr missing: %v (hint %q); want an error naming it and a hint", err, hint)
	}
	tool("wlr-randr", "[ $# -eq 0 ] && printf 'HDMI-A-1 \"Dell\"\\n  Enabled: yes\\n'\n")
	if detail, _, err := checkPanelPower(t.Context(), cfg); err != nil || detail != "wlr-randr answered: outputs HDMI-A-1" {
		t.Errorf("wlr-randr: %q, %v; want it answered with its outputs", detail, err)
	}
	cfg.Display.Power = "ddc"
	tool("ddcutil", "echo 'Display not found' >&2; exit 1\n")
	if _, _, err := checkPanelPower(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "Display not found") {
		t.Errorf("ddc without a monitor: %v, want ddcutil's message", err)
	}
	cfg.Display.Power = "auto"
	tool("cec-client", "echo 'power status: on'\n")
	if detail, _, err := checkPanelPower(t.Context(), cfg); err != nil || detail != "cec answered: power status: on" {
		t.Errorf("auto with cec-client: %q, %v; want cec first", detail, err)
	}
}

// TestCheckPiPower: check fails on an under-voltage now, reports the flags otherwise, and
// says "not reported" where the firmware has none.
func TestCheckPiPower(t *testing.T) {
	sys := t.TempDir()
	if detail, _, err := checkPiPower(sys); err != nil || !strings.Contains(detail, "not reported") {
		t.Errorf("no firmware: %q, %v; want not reported", detail, err)
	}
	node := filepath.Join(sys, "devices", "platform", "soc", "soc:firmware", "get_throttled")
	os.MkdirAll(filepath.Dir(node), 0o755)
	os.WriteFile(node, []byte("50005\n"), 0o644)
	if _, hint, err := checkPiPower(sys); err == nil || err.Error() != "undervoltage now (throttled=0x50005)" || !strings.Contains(hint, "supply") {
		t.Errorf("under-voltage: %v (hint %q); want a failure naming the flags", err, hint)
	}
	os.WriteFile(node, []byte("50000\n"), 0o644)
	if detail, _, err := checkPiPower(sys); err != nil || detail != "none now (throttled=0x50000); occurred: under-voltage, throttled" {
		t.Errorf("occurred only: %q, %v", detail, err)
	}
}
