package main

import (
	"bufio"
	"strings"
	"testing"
)

// A set refused out of memory is an answer memcached gives under heavy
// eviction; it must not count as a wrong reply and end the trial.
func TestReadSetReplies(t *testing.T) {
	for _, tc := range []struct {
		reply   string
		wrong   bool
		refused int64
	}{
		{"STORED\r\n", false, 0},
		{"SERVER_ERROR out of memory storing object\r\n", false, 1},
		{"SERVER_ERROR object too large for cache\r\n", true, 0},
		{"NOT_STORED\r\n", true, 0},
		{"STORED\n", true, 0},
	} {
		w := &worker{r: bufio.NewReader(strings.NewReader(tc.reply)), t: &tally{}}
		msg, err := w.readSet()
		if err != nil {
			t.Fatalf("%q: %v", tc.reply, err)
		}
		if (msg != "") != tc.wrong || w.t.refused != tc.refused || w.t.sets != 1 {
			t.Errorf("%q: message %q, refused %d, sets %d; want wrong %v, refused %d, sets 1",
				tc.reply, msg, w.t.refused, w.t.sets, tc.wrong, tc.refused)
		}
	}
}
