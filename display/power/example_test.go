package power_test

import (
	"fmt"
	"time"

	"github.com/fitmirror/fitmirror/display/power"
)

func ExampleParseHours() {
	h, err := power.ParseHours("mon-fri 09:00-21:00; sat-sun 10:00-22:00")
	if err != nil {
		fmt.Println(err)
		return
	}
	fri := time.Date(2026, 11, 20, 21, 30, 0, 0, time.UTC) // a Friday night
	fmt.Println("open:", h.Open(fri), "opens:", h.Next(fri).Format("Mon 15:04"))
	_, err = power.ParseHours("mon-fri 9-21")
	fmt.Println(err)
	// Output:
	// open: false opens: Sat 10:00
	// hours "mon-fri 9-21": "9-21" is not HH:MM-HH:MM
}
