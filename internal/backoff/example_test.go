package backoff_test

import (
	"fmt"
	"time"

	"github.com/fitmirror/fitmirror/internal/backoff"
)

// A camera reopen: doubling, capped; with no jitter drawn the waits are exact.
func Example() {
	b := backoff.Backoff{Min: time.Second, Max: 8 * time.Second, Rand: func() float64 { return 0 }}
	for i := 0; i < 5; i++ {
		fmt.Print(b.Next(), " ")
	}
	fmt.Println()
	// Output:
	// 1s 2s 4s 8s 8s
}
