package mobileclient_test

import (
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/cedula/cedula/mobile-api/mobileclient"
)

func TestEvents(t *testing.T) {
	in := "retry: 3000\n\n: keep-alive\n\nid: 7\nevent: message\ndata: {\"a\":\ndata: 1}\n\nid:8\r\ndata:x\r\n\r\nid: 9\n"
	var got []mobileclient.Event
	for ev := range mobileclient.Events(io.NopCloser(strings.NewReader(in))) {
		got = append(got, ev)
	}
	want := []mobileclient.Event{{ID: "7", Type: "message", Data: "{\"a\":\n1}"}, {ID: "8", Data: "x"}}
	if !slices.Equal(got, want) {
		t.Errorf("events: %+v, want %+v (none for retry, a comment or an undispatched block)", got, want)
	}
}
