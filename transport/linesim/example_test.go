package linesim_test

import (
	"fmt"
	"io"

	"github.com/dialgate/dialgate/transport/linesim"
)

// A line at a bit error rate of 1e-3, reproducible by its seed.
func ExampleNewPair() {
	a, b := linesim.NewPair(linesim.Config{
		Seed:        2026,
		Impairments: linesim.Impairments{BitErrorRate: 1e-3},
	})
	defer b.Close()
	go func() {
		a.Write(make([]byte, 10000))
		a.Close()
	}()
	got, _ := io.ReadAll(b)
	flipped := 0
	for _, c := range got {
		for ; c != 0; c &= c - 1 {
			flipped++
		}
	}
	fmt.Println(len(got), "octets,", flipped, "bits flipped")
	// Output: 10000 octets, 87 bits flipped
}
