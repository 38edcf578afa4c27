// Package hardware drives the mirror's own hardware through periph.io: a PIR or radar presence
// sensor, push buttons on the frame, a camera-active LED and the lighting around the glass
// (PWM channels on a PCA9685 over I²C, or an APA102 strip over SPI).
//
// Everything is configured by name under io: in the agent's configuration ([Config]); empty
// names mean "not fitted", and with nothing fitted [Open] never loads periph's host drivers.
// A pin the host does not have is a [PinError] naming the key and the pin; a bus that does not
// open is a [BusError]; both carry a Hint for installers, which [Check] prints for
// `mirror-agent check`.
//
// Inputs run in [IO.Run] and come out through callbacks:
//
//   - the presence sensor calls Options.OnWake when it starts seeing someone — a hint for the
//     logs and the caller, never a reason to open a session (the camera's motion gate raises
//     the analysed frame rate by itself when someone moves);
//   - buttons are debounced (the level must hold for io.buttons.debounce) and report a
//     [Press], a [LongPress] (while still held) or, on the capture button, a [DoublePress];
//     [ButtonEvent.Action] maps them to capture, compare and call-staff.
//
// Outputs: [IO.SetCameraActive] lights the camera-active LED while frames are analysed for a
// session; [IO.SetScene] fades the lights to a scene (daylight, evening, off, or one from
// io.light.scenes) on a ticker in Run, in perceived brightness with an ease-in-out curve; and
// IO is a display.Renderer whose Show picks a scene per screen (io.light.screens, e.g.
// brighten on welcome). [IO.Halt] puts the outputs in their safe state (LED off, lights at
// io.light.default at once) and stays usable; Run ends with Halt; [IO.Close] halts and then
// releases pins and buses.
//
// [IO.OpenI2C] shares an I²C bus handle with other users, such as the SSD1306 status OLED of
// display/status on the PCA9685's bus.
//
// Wiring for a Raspberry Pi 4/5 (BCM numbers, physical header pins in brackets) is in
// docs/hardware.md; in short: PIR/radar output → GPIO17 [11]; buttons between GPIO27 [13],
// GPIO23 [16], GPIO24 [18] and GND (internal pull-ups); camera LED from GPIO22 [15] through a
// resistor; PCA9685 and the status OLED on I²C1, SDA GPIO2 [3] and SCL GPIO3 [5]; an APA102
// strip on SPI0, MOSI GPIO10 [19] and SCLK GPIO11 [23], through a 5 V level shifter.
//
// In main:
//
//	d, err := hardware.Open(cfg.IO, hardware.Options{
//		OnWake: func(time.Time) { log.Debug("presence sensor: someone is near") },
//		OnButton: func(e hardware.ButtonEvent) {
//			switch e.Action() {
//			case hardware.ActionCapture:
//				engine.Trigger(ctx, "button")
//			case hardware.ActionCompare:
//				engine.Compare(ctx)
//			case hardware.ActionStaff:
//				events(session.Event{Type: "staff.called", At: e.At})
//			}
//		},
//	})
//	if err != nil { return err }
//	defer d.Close()
//	g.Go(func() error { return d.Run(ctx) })
//
// Tests use periph's fakes (gpiotest.Pin, i2ctest.Playback, spitest) and the Host and
// simulated PCA9685 in package hardwaretest.
package hardware
