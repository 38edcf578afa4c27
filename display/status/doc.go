// Package status is a small status display for installers and service staff: a 128×64 SSD1306
// OLED on I²C (through periph.io) showing the device ID, its IP address, the session state (the
// current scene) and the last error, in ASCII at 7×13 pixels.
//
// It is a display.Renderer: wire it next to the kiosk so it follows the same Screens (an error
// screen's message becomes the last error), and feed it other errors with SetError (the agent
// reports a lost or frozen camera there).
//
// Wiring: the usual 0.96" modules have four pins. On a Raspberry Pi: VCC to 3.3 V (pin 1), GND
// to ground (pin 6), SDA to GPIO2 (pin 3), SCL to GPIO3 (pin 5); enable I²C (dtparam=i2c_arm=on)
// and the module answers at address 0x3C on /dev/i2c-1. In main:
//
//	if _, err := host.Init(); err != nil { … }
//	bus, err := i2creg.Open("") // the first bus, or "/dev/i2c-1"
//	if err != nil { return fmt.Errorf("display.status.bus: %w", err) }
//	defer bus.Close()
//	st, err := status.OpenSSD1306(bus, status.Options{DeviceID: cfg.Device.ID})
//	if err != nil { return fmt.Errorf("display.status: %w", err) }
//	g.Go(func() error { return st.Run(ctx) })
package status
